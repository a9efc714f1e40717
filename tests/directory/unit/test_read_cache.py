"""The read cache's rules: expiry, bounds, invalidation and reads that race an invalidation."""

from __future__ import annotations

from services.directory._cache import MISSING, DirectoryCache, Expiring


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_values_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = Expiring(ttl=10, max_entries=10, clock=clock)
    cache.put("k", "v")
    clock.now += 9.9
    assert cache.get("k") == "v"
    clock.now += 0.2
    assert cache.get("k") is MISSING
    assert len(cache) == 0


def test_none_is_a_value_not_a_miss() -> None:
    cache = Expiring(ttl=10, max_entries=10)
    cache.put("nobody", None)
    assert cache.get("nobody") is None
    assert cache.get("somebody") is MISSING


def test_oldest_entries_go_first_past_the_bound() -> None:
    cache = Expiring(ttl=10, max_entries=3)
    for key in "abcd":
        cache.put(key, key)
    assert len(cache) == 3 and cache.get("a") is MISSING
    cache.put("b", "b2")  # re-stored: now the newest
    cache.put("e", "e")
    assert cache.get("b") == "b2" and cache.get("c") is MISSING


def test_expired_values_are_dropped_as_new_ones_come_in() -> None:
    clock = Clock()
    cache = Expiring(ttl=10, max_entries=100, clock=clock)
    for i in range(50):
        cache.put(i, i)
    clock.now += 11
    cache.put("new", "new")
    assert len(cache) == 1


def test_zero_ttl_or_size_disables_the_cache() -> None:
    for cache in (Expiring(ttl=0, max_entries=10), Expiring(ttl=10, max_entries=0)):
        cache.put("k", "v")
        assert cache.get("k") is MISSING


def test_forget_address_drops_entry_and_credentials_of_that_address_only() -> None:
    cache = DirectoryCache(ttl=60, max_entries=100)
    for local in ("alice", "bob"):
        cache.store_entry(("example.test", local), f"entry {local}", generation=cache.generation)
        cache.store_credentials(("example.test", local), f"creds {local}", generation=cache.generation)
    cache.forget_address("alice@example.test")
    assert cache.entries.get(("example.test", "alice")) is MISSING
    assert cache.credentials.get(("example.test", "alice")) is MISSING
    assert cache.entries.get(("example.test", "bob")) == "entry bob"
    assert cache.credentials.get(("example.test", "bob")) == "creds bob"


def test_forget_all() -> None:
    cache = DirectoryCache(ttl=60, max_entries=100)
    cache.store_entry(("example.test", "alice"), "entry", generation=cache.generation)
    cache.store_credentials(("example.test", "alice"), "creds", generation=cache.generation)
    cache.forget_all()
    assert len(cache.entries) == 0 and len(cache.credentials) == 0


def test_a_read_that_started_before_an_invalidation_is_not_stored() -> None:
    cache = DirectoryCache(ttl=60, max_entries=100)
    started = cache.generation  # a read asks the database ...
    cache.forget_address("alice@example.test")  # ... a change commits meanwhile ...
    cache.store_entry(("example.test", "alice"), "maybe the old row", generation=started)
    cache.store_credentials(("example.test", "alice"), "maybe the old row", generation=started)
    assert cache.entries.get(("example.test", "alice")) is MISSING
    assert cache.credentials.get(("example.test", "alice")) is MISSING
    cache.store_entry(("example.test", "alice"), "new row", generation=cache.generation)
    assert cache.entries.get(("example.test", "alice")) == "new row"
