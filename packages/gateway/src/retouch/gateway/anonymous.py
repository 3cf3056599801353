"""Anonymous browser callers next to API keys (API.md, Access).

A browser client that holds no secret (the seed system's web client) may be allowed from
configured origins (``RETOUCH_ANONYMOUS_ORIGINS``) while keyed callers keep using their keys. Such
a request carries no key and an ``Origin`` header naming an allowed origin. It is:

- owned by an id derived from the client address and the origin (never from anything the caller
  chooses, such as a task id), so its jobs, assets and smart-mask requests are isolated from every
  keyed caller's and from every other address's: another owner gets 404 from the services;
- rate limited per client address (``RETOUCH_ANONYMOUS_RATE_LIMIT_PER_MINUTE`` / ``_BURST``);
- (``GET /api/system/health`` only) also served without an ``Origin``: the seed client asks it
  from its own server;
- quota-bounded per client address: at most ``RETOUCH_ANONYMOUS_JOBS_PER_HOUR`` generation jobs
  submitted in any hour.

A request with a key is judged by its key alone (a wrong key is a 401, never anonymous).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from collections.abc import Iterable

from starlette.types import Scope

from retouch.gateway.ratelimit import RateLimiter

__all__ = ["ANONYMOUS_PREFIX", "JOB_SUBMIT_PATHS", "AnonymousAccess", "JobQuota", "has_key", "origin_of"]

#: Owner ids of anonymous callers start with this (keyed owners are 24 hex digits).
ANONYMOUS_PREFIX = "anon-"
#: Submitting these creates a generation job (what the quota counts).
JOB_SUBMIT_PATHS = frozenset({"/api/generate", "/api/generate/async"})
#: A batch submit counts as one against the quota (its size is bounded by the jobs service).
BATCH_PREFIX = "/api/generate/batch"
_QUOTA_WINDOW_S = 3600.0
#: Admissions between two sweeps of idle addresses' state.
_PRUNE_EVERY = 4096
#: Open to keyless callers without an origin once anonymous access is enabled.
SYSTEM_HEALTH = "/api/system/health"


def origin_of(scope: Scope) -> str | None:
    """The request's ``Origin`` header, if any."""
    for name, value in scope["headers"]:
        if name == b"origin":
            origin: str = value.decode("latin-1").strip()
            return origin
    return None


def has_key(scope: Scope) -> bool:
    """Whether the request presents an API key at all (valid or not)."""
    for name, value in scope["headers"]:
        if name == b"x-api-key" and value.strip():
            return True
        if name == b"authorization" and value.strip():
            return True
    return False


class JobQuota:
    """At most ``per_hour`` jobs per client address in any sliding hour (0: no quota)."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        self._submits: dict[str, deque[float]] = {}

    def prune(self, now: float) -> None:
        """Forget addresses with nothing left in the window (their memory is not kept for ever)."""
        for address in [a for a, times in self._submits.items() if not times or now - times[-1] >= _QUOTA_WINDOW_S]:
            del self._submits[address]

    def take(self, address: str, now: float | None = None) -> int:
        """Count one job for ``address``: 0 when it may go, else whole seconds until it could."""
        if self.per_hour <= 0:
            return 0
        now = time.monotonic() if now is None else now
        times = self._submits.setdefault(address, deque())
        while times and now - times[0] >= _QUOTA_WINDOW_S:
            times.popleft()
        if len(times) >= self.per_hour:
            return max(1, math.ceil(_QUOTA_WINDOW_S - (now - times[0])))
        times.append(now)
        return 0


class AnonymousAccess:
    """Which keyless requests are served, as whom, and how much (see the module docstring)."""

    def __init__(self, origins: Iterable[str], *, per_minute: int, burst: int, jobs_per_hour: int) -> None:
        self.origins = frozenset(origin.rstrip("/") for origin in origins if origin.strip())
        self.limiter = RateLimiter(per_minute, burst)
        self.quota = JobQuota(jobs_per_hour)
        self._admitted = 0

    @property
    def enabled(self) -> bool:
        """Whether any origin may call anonymously."""
        return bool(self.origins)

    def allows(self, scope: Scope) -> str | None:
        """The allowed origin of a keyless request from one, else ``None``."""
        if not self.origins or has_key(scope):
            return None
        origin = origin_of(scope)
        if origin is None:
            # The seed client checks the system health from its own server, with neither a key nor
            # an origin: a deployment that lets the client in answers that too (rate limited).
            return "" if scope.get("path") == SYSTEM_HEALTH else None
        origin = origin.rstrip("/")
        return origin if origin in self.origins or "*" in self.origins else None

    @staticmethod
    def owner(address: str, origin: str) -> bytes:
        """The owner id of anonymous calls from ``address`` on the page of ``origin``."""
        digest = hashlib.sha256(f"{address}\n{origin}".encode()).hexdigest()[:24]
        return f"{ANONYMOUS_PREFIX}{digest}".encode()

    @property
    def tracked(self) -> int:
        """How many client addresses' state is kept now."""
        return len(self.limiter._buckets.keys() | {key.encode() for key in self.quota._submits})

    def prune(self, now: float | None = None) -> None:
        """Forget the state of idle addresses (anonymous addresses are unbounded, unlike keys);
        called by itself every few thousand admissions."""
        now = time.monotonic() if now is None else now
        self.quota.prune(now)
        limiter = self.limiter
        idle = [
            key for key, (tokens, at) in limiter._buckets.items() if tokens + (now - at) * limiter.rate >= limiter.burst
        ]
        for key in idle:
            del limiter._buckets[key]

    def admit(self, scope: Scope, address: str) -> tuple[int, str]:
        """``(0, "")`` when the request may go, else ``(seconds to wait, why)``."""
        self._admitted += 1
        if self._admitted % _PRUNE_EVERY == 0:
            self.prune()
        wait = self.limiter.acquire(address.encode())
        if wait:
            return wait, f"rate limit exceeded for anonymous calls from this address; retry in {wait} s"
        path = str(scope.get("path", ""))
        if scope.get("method") == "POST" and (path in JOB_SUBMIT_PATHS or path.startswith(BATCH_PREFIX)):
            wait = self.quota.take(address)
            if wait:
                return wait, (
                    f"anonymous job quota reached for this address ({self.quota.per_hour} an hour); retry in {wait} s"
                )
        return 0, ""
