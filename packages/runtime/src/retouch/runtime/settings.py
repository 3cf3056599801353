"""Settings from the environment, parsed once into a msgspec Struct per service.

Every field ``foo_bar`` is read from ``RETOUCH_FOO_BAR`` unless the class or one of its bases
maps it to another variable in ``__env__`` (the seed's ``GENERATION_SERVICE_URL`` and friends,
and the documented names of durations, whose fields end in ``_s``). Lists are comma-separated.
A bad value raises :class:`SettingsError` naming the variable.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any, ClassVar, TypeVar, get_args, get_origin, get_type_hints

import msgspec

__all__ = ["ServiceSettings", "Settings", "SettingsError", "env_name", "env_names", "load_settings", "new_token"]

S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(ValueError):
    """A configuration variable has a value that cannot be used."""


def env_names(prefix: str, fields: Iterable[str], *, seconds: str | None = None) -> dict[str, str]:
    """An ``__env__`` mapping: ``{field: prefix + FIELD}`` for each of ``fields``. With ``seconds``,
    a duration field ``foo_s`` reads ``prefix + FOO + seconds`` instead: the name its variable was
    documented with before durations ended in ``_s`` (``"_SECONDS"``, or ``""`` for none)."""
    mapping: dict[str, str] = {}
    for field in fields:
        if seconds is not None and field.endswith("_s"):
            mapping[field] = f"{prefix}{field.removesuffix('_s').upper()}{seconds}"
        else:
            mapping[field] = f"{prefix}{field.upper()}"
    return mapping


class Settings(msgspec.Struct, kw_only=True):
    """A group of settings read from the environment by :func:`load_settings` (the base of
    :class:`ServiceSettings`, and of groups read before any service exists, such as the HTTP
    server's)."""

    __env__: ClassVar[dict[str, str]] = {}

    def require(
        self, *, positive: Iterable[str] = (), non_negative: Iterable[str] = (), fraction: Iterable[str] = ()
    ) -> None:
        """Check numeric fields' ranges (every ``__post_init__`` calls this): the first field out
        of range raises :class:`SettingsError` naming its variable."""
        cls = type(self)
        for name in positive:
            if not getattr(self, name) > 0:
                raise SettingsError(f"{env_name(cls, name)} must be positive, got {getattr(self, name)}")
        for name in non_negative:
            if not getattr(self, name) >= 0:
                raise SettingsError(f"{env_name(cls, name)} must not be negative, got {getattr(self, name)}")
        for name in fraction:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingsError(f"{env_name(cls, name)} must be between 0 and 1, got {getattr(self, name)}")


class ServiceSettings(Settings, kw_only=True):
    """What every service is configured with (subclass it to add a service's own settings)."""

    __env__: ClassVar[dict[str, str]] = env_names("RETOUCH_", ("metrics_push_s",), seconds="_SECONDS")

    #: Shared secret internal calls must present (``X-Service-Token``); unset: no check.
    service_token: str | None = None
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 64 * 1024 * 1024
    #: Largest picture uploaded to ``/api/assets`` (streamed to disk, never held whole in memory).
    max_asset_bytes: int = 512 * 1024 * 1024
    #: The jobs service, where ``asset:<id>`` references are read (unset: this service refuses them,
    #: unless it holds the assets itself).
    assets_url: str | None = None
    #: Largest decoded image, in pixels (width * height).
    max_image_pixels: int = 50_000_000
    #: Longest image side, in pixels.
    max_image_side: int = 12_000
    #: Threads for CPU-bound work (image decoding, OpenCV, models).
    cpu_workers: int = 4
    #: Where the service keeps files (SQLite, blobs, caches).
    data_dir: Path = Path("./.retouch-data")
    #: Where ``retouch models pull`` installs learned models (``retouch.runtime.models``); engines
    #: that can use one pick it up from here. Unset: only explicitly configured weights are used.
    models_dir: Path | None = None
    log_level: str = "INFO"
    #: JSON lines (``true``) or plain text logs.
    log_json: bool = True
    #: A Prometheus Pushgateway this service pushes its metrics to every ``metrics_push_s``
    #: (for containers a scraper cannot reach one by one, e.g. on Modal); unset: scrape
    #: ``/api/metrics`` instead.
    metrics_push_url: str | None = None
    metrics_push_s: float = 15.0

    def __post_init__(self) -> None:
        self.require(
            positive=(
                "metrics_push_s",
                "max_body_bytes",
                "max_asset_bytes",
                "max_image_pixels",
                "max_image_side",
                "cpu_workers",
            )
        )


def env_name(cls: type[msgspec.Struct], field: str) -> str:
    """The environment variable that configures ``field`` of ``cls``: the nearest class's
    ``__env__`` entry for it (a subclass's mapping adds to its bases'), else ``RETOUCH_<FIELD>``."""
    for klass in cls.__mro__:
        mapping: dict[str, str] = vars(klass).get("__env__", {})
        if field in mapping:
            return mapping[field]
    return f"RETOUCH_{field.upper()}"


def _parse(raw: str, annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (list, tuple, frozenset, set):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if origin is dict:
        pairs = (item.split("=", 1) for item in raw.split(",") if item.strip())
        return {k.strip(): v.strip() for k, v in pairs}
    args = [a for a in get_args(annotation) if a is not type(None)]
    if raw == "" and type(None) in get_args(annotation):
        return None
    if args and all(get_origin(a) in (list, tuple) for a in args):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _dec_hook(type_: Any, obj: Any) -> Any:
    # msgspec has no built-in Path support: accept a path or a string for a Path field.
    if isinstance(type_, type) and issubclass(type_, PurePath) and isinstance(obj, str | PurePath):
        return type_(obj)
    raise NotImplementedError(f"cannot convert to {type_!r}")


def load_settings(cls: type[S], environ: Mapping[str, str] | None = None, **overrides: Any) -> S:
    """Build ``cls`` from ``environ`` (default: ``os.environ``) plus explicit ``overrides``."""
    env = os.environ if environ is None else environ
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        var = env_name(cls, field.name)
        if field.name in overrides:
            values[field.name] = overrides[field.name]
            continue
        if var not in env:
            continue
        raw = env[var]
        try:
            values[field.name] = msgspec.convert(
                _parse(raw, hints[field.name]), hints[field.name], strict=False, dec_hook=_dec_hook
            )
        except msgspec.ValidationError as exc:
            raise SettingsError(f"{var}={raw!r} is not valid: {exc}") from None
    try:
        return msgspec.convert(values, cls, strict=False, from_attributes=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid settings for {cls.__name__}: {exc}") from None


def new_token() -> str:
    """A fresh random service token (the local stack generates one per run)."""
    return secrets.token_urlsafe(32)
