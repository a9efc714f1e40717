"""When to try a deferred message again, and when to give up.

Exponential backoff: the n-th retry waits `initial * 2**(n-1)` seconds, at
most `maximum` (defaults 5 minutes doubling to one hour, close to Postfix's
300 s / 4000 s). RFC 5321 section 4.5.4.1 asks for at least 30 minutes
between retries in general; the first retries are quicker because most
temporary failures (greylisting, a restarting server) clear within minutes.
A message still undelivered `give_up_after` seconds after it arrived is
bounced (section 4.5.4.1: "at least 4-5 days"). A little jitter keeps
messages deferred together from retrying together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial: float = 300.0
    maximum: float = 3600.0
    give_up_after: float = 5 * 24 * 3600.0
    jitter: float = 0.1

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1 for the first)."""
        exponent = max(attempts, 1) - 1
        base = self.initial * 2.0 ** min(exponent, 60)  # min(): no float overflow on absurd counts
        return min(base, self.maximum)

    def jittered(self, attempts: int, *, rng: random.Random | None = None) -> float:
        spread = self.delay(attempts) * self.jitter
        return max(0.0, self.delay(attempts) + (rng or random).uniform(-spread, spread))

    def expired(self, arrived_at: datetime, now: datetime) -> bool:
        return now - arrived_at >= timedelta(seconds=self.give_up_after)

    def next_attempt(self, *, attempts: int, arrived_at: datetime, now: datetime) -> datetime | None:
        """When to try again, or None when the next try would come after the give-up age.

        The last retry is moved to the give-up moment itself, so a message is
        always tried once more at the end rather than bounced early.
        """
        if self.expired(arrived_at, now):
            return None
        deadline = arrived_at + timedelta(seconds=self.give_up_after)
        return min(now + timedelta(seconds=self.jittered(attempts)), deadline)
