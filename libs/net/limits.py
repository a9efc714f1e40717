"""Per-client limits, in memory (one process's view): simultaneous connections per
address, and request rates per address or account (token buckets).

The server refuses a client that opens too many connections at once, before
any protocol work, with the front end's reply (SMTP 421 4.7.0, POP3
-ERR [SYS/TEMP], IMAP * BYE [UNAVAILABLE]); IMAP also counts the sessions of
one account with it.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable


class ConnectionLimiter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, address: str) -> bool:
        if self._open[address] >= self.limit:
            return False
        self._open[address] += 1
        return True

    def release(self, address: str) -> None:
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]


class TokenBuckets:
    """Request rates per key (a client address, an account), in memory: each key's bucket
    holds up to `burst` tokens and refills at `rate` tokens a second; a request takes one.

    At most `max_keys` buckets are kept, so a flood of addresses cannot grow memory
    without bound: past it, buckets that have refilled go first (they are the same as a
    new key's), then the least recently used. Each process keeps its own buckets, so N
    replicas let a client through N times as often.
    """

    def __init__(
        self, *, rate: float, burst: float, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last update)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, key: str, now: float | None = None) -> bool:
        """Take one token for `key`; False when its bucket is empty (the caller refuses)."""
        if not self.enabled:
            return True
        now = self._clock() if now is None else now
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._forget(now)
        return allowed

    def _forget(self, now: float) -> None:
        refill = self.burst / self.rate
        # Least recently used first: the refilled buckets are at the front.
        while self._buckets:
            key, (_, last) = next(iter(self._buckets.items()))
            if now - last < refill:
                break
            del self._buckets[key]
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
