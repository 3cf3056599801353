"""API keys: who is calling, as an owner id the services can scope data by."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from starlette.types import Scope

__all__ = ["ANONYMOUS", "ApiKeys", "owner_id"]

#: The owner of every request when no API keys are configured.
ANONYMOUS = b"anonymous"


def owner_id(key: str) -> str:
    """The stable, non-secret id of ``key``: the first 24 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class ApiKeys:
    """The configured keys; :meth:`owner` maps a request to its key's owner id (or ``None``)."""

    def __init__(self, keys: Iterable[str]) -> None:
        # Owner ids are computed once here, not per request.
        self._keys = [(key.encode(), owner_id(key).encode()) for key in dict.fromkeys(keys) if key]

    @property
    def enabled(self) -> bool:
        """Whether requests must present a key."""
        return bool(self._keys)

    def owner(self, scope: Scope) -> bytes | None:
        """The owner id of the key in ``Authorization: Bearer`` or ``X-API-Key``; ``None`` when the
        request has no valid key. Every configured key is compared in constant time."""
        if not self._keys:
            return ANONYMOUS
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = token.strip()
                    break
            elif name == b"x-api-key":
                given = value.strip()
        if not given:
            return None
        found: bytes | None = None
        for key, owner in self._keys:
            # No early exit: the time taken does not tell which key (or how much of one) matched.
            if hmac.compare_digest(given, key):
                found = owner
        return found
