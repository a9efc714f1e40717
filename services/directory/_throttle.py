"""Failed-login throttling per account and per client address.

Counts failures in a sliding window. State is per directory process: with
several replicas an attacker gets at most (replicas x limit) tries per
window, which still stops online guessing; see docs/directory.md.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureWindow:
    def __init__(
        self, *, limit: int, window: float, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _prune(self, key: str) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may try again, or None when it is not throttled."""
        times = self._prune(key)
        if times is None or len(times) < self.limit:
            return None
        return max(0.0, times[-self.limit] + self.window - self._clock())

    def record_failure(self, key: str) -> None:
        times = self._prune(key) or deque(maxlen=self.limit)
        times.append(self._clock())
        self._failures[key] = times
        self._failures.move_to_end(key)
        # Bounded memory under a spray of distinct keys: forget the stalest.
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)
