"""Rate limits of SMTP clients, per client address and per account: `per_minute`
requests, in bursts of up to a minute's allowance (libs.net.TokenBuckets).
docs/smtp.md explains why the counters are not in JetStream KV.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from libs.net.limits import TokenBuckets


class RateLimiter(TokenBuckets):
    def __init__(
        self, per_minute: int, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(rate=per_minute / 60.0, burst=float(per_minute), max_keys=max_keys, clock=clock)
