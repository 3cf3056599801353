"""Check the signature of a webhook POST from retouch, as the Standard Webhooks specification says.

A receiver (any web framework; the raw body bytes and the headers are all it needs):

>>> from retouch.sdk.webhooks import verify, WebhookVerificationError
>>> def receive(body: bytes, headers: dict[str, str]) -> int:
...     try:
...         status = verify(body, headers, "whsec_...")   # the secret of your API key
...     except WebhookVerificationError:
...         return 400
...     print(status.task_id, status.status)             # a JobStatus: done, error, ...
...     return 204

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; ``webhook-signature`` is a
space-separated list of ``v1,<base64 HMAC-SHA256>`` (several during a secret rotation), checked in
constant time; a timestamp further than ``tolerance`` seconds from now is refused (replays). The
secret is ``whsec_`` + base64 of the key bytes. Deliveries are retried with the same
``webhook-id``: a receiver that has seen an id already should answer 2xx and do nothing.
Implemented here (the SDK depends only on msgspec and httpx) to the letter of the specification;
the jobs service signs with the reference ``standardwebhooks`` library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from typing import Final

import msgspec

from retouch.sdk import _codec
from retouch.sdk.errors import RetouchError
from retouch.sdk.models.jobs import JobStatus

__all__ = ["DEFAULT_TOLERANCE", "SECRET_PREFIX", "WebhookVerificationError", "sign", "verify"]

#: Seconds a delivery's timestamp may be away from the receiver's clock (the specification's 5 min).
DEFAULT_TOLERANCE: Final = 300.0
#: How a Standard Webhooks secret starts (the rest is base64).
SECRET_PREFIX: Final = "whsec_"

Secret = str | bytes


class WebhookVerificationError(RetouchError):
    """The POST is not a valid, fresh, signed delivery (missing headers, bad signature, too old)."""


def _key(secret: Secret) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    else:
        encoded = secret.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def _signature(key: bytes, msg_id: str, timestamp: str, payload: bytes) -> bytes:
    return hmac.new(key, b"%s.%s.%s" % (msg_id.encode(), timestamp.encode(), payload), hashlib.sha256).digest()


def sign(msg_id: str, timestamp: int, payload: bytes | str, secret: Secret) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for a delivery; useful in receivers' tests."""
    data = payload.encode() if isinstance(payload, str) else payload
    digest = _signature(_key(secret), msg_id, str(int(timestamp)), data)
    return "v1," + base64.b64encode(digest).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"the {name} header is missing")


def verify(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: Secret | Iterable[Secret],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> JobStatus:
    """Check the delivery ``payload`` (the raw body, not re-encoded JSON) with its ``headers``
    against ``secret`` (or any of several, while rotating); returns the job's status it carries.
    Raises :class:`WebhookVerificationError` if it is not authentic or not fresh."""
    data = payload.encode() if isinstance(payload, str) else bytes(payload)
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not timestamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not a number of seconds")
    clock = time.time() if now is None else now
    if abs(clock - int(timestamp)) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too far from now (a replay, or a wrong clock)")
    secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
    expected = [_signature(_key(item), msg_id, timestamp, data) for item in secrets]
    matched = False
    for entry in signatures.split(" "):
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # other schemes (e.g. v1a, asymmetric) are not ours to check
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        for digest in expected:
            # Every candidate is compared: the time taken does not tell which one matched.
            matched |= hmac.compare_digest(digest, given)
    if not matched:
        raise WebhookVerificationError("no webhook-signature matches the secret")
    try:
        return _codec.decode(data, JobStatus)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise WebhookVerificationError(f"the signed body is not a job status: {exc}") from exc
