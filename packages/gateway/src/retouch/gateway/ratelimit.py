"""Per-key rate limits: a token bucket for each owner, refilled continuously."""

from __future__ import annotations

import math
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    """``per_minute`` sustained requests per owner with bursts up to ``burst``.

    :meth:`acquire` returns 0 when the request may go, else the seconds until it could (the
    ``Retry-After``). The buckets live in this process: each gateway replica limits on its own.
    """

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(burst, 1))
        #: owner -> [tokens, monotonic time of the last refill]
        self._buckets: dict[bytes, list[float]] = {}

    @property
    def enabled(self) -> bool:
        """Whether any limit applies."""
        return self.rate > 0

    def acquire(self, owner: bytes) -> int:
        """Take one token from ``owner``'s bucket; 0 on success, else whole seconds to wait."""
        now = time.monotonic()
        bucket = self._buckets.get(owner)
        if bucket is None:
            self._buckets[owner] = [self.burst - 1.0, now]
            return 0
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0
        bucket[0] = tokens
        return max(1, math.ceil((1.0 - tokens) / self.rate))
