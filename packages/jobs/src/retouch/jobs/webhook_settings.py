"""The webhook part of the jobs service's settings: which fields, and their start-up checks."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

from retouch.runtime.settings import SettingsError, env_name

__all__ = ["MIN_SECRET_BYTES", "WEBHOOK_FIELDS", "check_webhook_settings", "secret_bytes"]

#: The webhook settings of :class:`~retouch.jobs.settings.JobsSettings` (``RETOUCH_JOBS_WEBHOOK_*``).
WEBHOOK_FIELDS: Final = (
    "webhook_secrets",
    "webhook_secret",
    "webhook_allow_private",
    "webhook_max_attempts",
    "webhook_retry_base_s",
    "webhook_retry_max_s",
    "webhook_timeout_s",
    "webhook_concurrency",
    "modal_webhook_dict",
)
#: The shortest key a secret may hold (the specification suggests 24 to 64 bytes).
MIN_SECRET_BYTES: Final = 16
_PREFIX = "whsec_"


def secret_bytes(secret: str) -> bytes:
    """The key inside ``whsec_<base64>``; ``ValueError`` if it is not one."""
    if not secret.startswith(_PREFIX):
        raise ValueError("must start with whsec_")
    encoded = secret.removeprefix(_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be whsec_ followed by base64") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"must hold at least {MIN_SECRET_BYTES} bytes of key")
    return key


def check_webhook_settings(settings: Any) -> None:
    """Refuse, naming the variable, a malformed secret or an out-of-range delivery setting."""
    cls = type(settings)
    secrets = dict(settings.webhook_secrets)
    for owner, secret in secrets.items():
        try:
            secret_bytes(secret)
        except ValueError as exc:
            raise SettingsError(f"{env_name(cls, 'webhook_secrets')}: the secret of {owner!r} {exc}") from None
    if settings.webhook_secret is not None:
        try:
            secret_bytes(settings.webhook_secret)
        except ValueError as exc:
            raise SettingsError(f"{env_name(cls, 'webhook_secret')} {exc}") from None
    for name in ("webhook_max_attempts", "webhook_concurrency"):
        if getattr(settings, name) < 1:
            raise SettingsError(f"{env_name(cls, name)} must be at least 1, got {getattr(settings, name)}")
    for name in ("webhook_retry_base_s", "webhook_retry_max_s", "webhook_timeout_s"):
        if not getattr(settings, name) > 0:
            raise SettingsError(f"{env_name(cls, name)} must be positive, got {getattr(settings, name)}")
