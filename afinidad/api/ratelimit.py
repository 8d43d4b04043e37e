"""A token bucket per key: the limit Segment applies per source, answered with 429 and Retry-After so
Segment's and RudderStack's libraries back off and retry instead of dropping data."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = max(burst, 1)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, cost: float = 1.0) -> float:
        """0 if the call may go ahead, else the seconds to wait before trying again."""
        if self.per_second <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, updated = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - updated) * self.per_second)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.per_second


def retry_after_header(wait_seconds: float) -> int:
    return max(1, math.ceil(wait_seconds))
