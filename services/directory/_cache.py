"""The read cache of the directory's hot path: address entries and credentials.

Rules (docs/directory.md, "The read cache"):

- Keys are `(primary domain name, local part)`; a cached `None` means "no
  such entry", so unknown addresses are cheap too.
- A change is announced as a `directory.<kind>.<action>` event after its
  commit, by whichever replica made it. The replica that made it forgets the
  key before publishing (at once, even if the bus is down); every replica
  forgets it when the event arrives. Domain and domain-alias changes, an
  event we cannot read and a bus reconnect (events may have been missed)
  forget everything.
- Every value also expires after `ttl` seconds, which bounds staleness if an
  event is lost (a replica that dies between commit and publish).
- A read that started before an invalidation does not store what it read:
  it might be the old row (`generation`).
- At most `max_entries` keys per table; past that the oldest go first, and
  expired values are dropped as new ones come in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, Final

MISSING: Final = object()
Key = tuple[str, str]


class Expiring:
    """A bounded map whose values expire; oldest-inserted are evicted first."""

    def __init__(self, *, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._values: dict[Hashable, tuple[float, Any]] = {}

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable) -> Any:
        """The value, or MISSING when absent or expired."""
        found = self._values.get(key)
        if found is None:
            return MISSING
        if found[0] < self._clock():
            del self._values[key]
            return MISSING
        return found[1]

    def put(self, key: Hashable, value: Any) -> None:
        if self.ttl <= 0 or self.max_entries <= 0:
            return
        now = self._clock()
        self._values.pop(key, None)  # re-inserted at the end: the dict stays in expiry order
        self._values[key] = (now + self.ttl, value)
        # Drop what has expired from the front, and the oldest past the bound, so memory
        # follows the recent request rate rather than the size of the directory.
        while self._values:
            oldest = next(iter(self._values))
            if len(self._values) <= self.max_entries and self._values[oldest][0] >= now:
                break
            del self._values[oldest]

    def forget(self, key: Hashable) -> None:
        self._values.pop(key, None)

    def clear(self) -> None:
        self._values.clear()


class DirectoryCache:
    """Entries (for resolve) and credentials (for auth) of this replica, invalidated together."""

    def __init__(self, *, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.entries = Expiring(ttl=ttl, max_entries=max_entries, clock=clock)
        self.credentials = Expiring(ttl=ttl, max_entries=max_entries, clock=clock)
        # Bumped by every invalidation; a read remembers it before it asks the database.
        self.generation = 0

    def store_entry(self, key: Key, value: Any, *, generation: int) -> None:
        if generation == self.generation:
            self.entries.put(key, value)

    def store_credentials(self, key: Key, value: Any, *, generation: int) -> None:
        if generation == self.generation:
            self.credentials.put(key, value)

    def forget_address(self, address: str) -> None:
        """Forget one canonical `local@domain` (a primary domain name, as events carry)."""
        local, at, domain = address.rpartition("@")
        if not at:
            self.forget_all()
            return
        self.generation += 1
        self.entries.forget((domain, local))
        self.credentials.forget((domain, local))

    def forget_all(self) -> None:
        self.generation += 1
        self.entries.clear()
        self.credentials.clear()
