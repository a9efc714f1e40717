"""Rate limits of clients: token buckets per client address and per account, in memory.

A bucket holds up to `per_minute` tokens and refills at `per_minute / 60`
tokens a second, so a client may burst up to its minute's allowance and then
goes at the steady rate. Each process keeps its own buckets (an LRU of at
most `max_keys`, so a flood of addresses cannot grow memory without bound):
with N replicas behind a load balancer a client gets up to N times the
limit. docs/smtp.md explains why the counters are not in JetStream KV.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self, per_minute: int, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last update)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def allow(self, key: str) -> bool:
        """Take one token for `key`; False when its bucket is empty (the caller refuses)."""
        if not self.enabled:
            return True
        now = self._clock()
        capacity = float(self.per_minute)
        tokens, last = self._buckets.pop(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * capacity / 60.0)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)
