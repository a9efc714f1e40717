"""The remembered-login cache: what hits, what misses, and that no password is kept."""

from __future__ import annotations

import time

import pytest

from services.directory._auth_cache import AuthCache


def test_hit_needs_same_account_password_and_stored_hash() -> None:
    cache = AuthCache(60)
    cache.remember("a@x.test", "pw", "$argon2id$one")
    assert cache.hit("a@x.test", "pw", "$argon2id$one")
    assert not cache.hit("a@x.test", "other", "$argon2id$one")
    assert not cache.hit("a@x.test", "pw", "$argon2id$two")  # password changed: a new stored hash
    assert not cache.hit("b@x.test", "pw", "$argon2id$one")


def test_password_is_not_kept() -> None:
    cache = AuthCache(60)
    cache.remember("a@x.test", "very-secret-password", "$argon2id$one")
    assert b"very-secret-password" not in repr(cache._entries).encode()
    # Two processes have two keys: an entry means nothing outside the process that made it.
    other = AuthCache(60)
    other.remember("a@x.test", "very-secret-password", "$argon2id$one")
    assert cache._entries["a@x.test"][0] != other._entries["a@x.test"][0]


def test_entries_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = AuthCache(5)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now)
    cache.remember("a@x.test", "pw", "h")
    monkeypatch.setattr(time, "monotonic", lambda: now + 4.9)
    assert cache.hit("a@x.test", "pw", "h")
    monkeypatch.setattr(time, "monotonic", lambda: now + 5.0)
    assert not cache.hit("a@x.test", "pw", "h")
    assert len(cache) == 0


def test_zero_ttl_disables() -> None:
    cache = AuthCache(0)
    cache.remember("a@x.test", "pw", "h")
    assert not cache.hit("a@x.test", "pw", "h")
    assert len(cache) == 0


def test_forget_and_clear() -> None:
    cache = AuthCache(60)
    cache.remember("a@x.test", "pw", "h")
    cache.remember("b@x.test", "pw", "h")
    cache.forget("a@x.test")
    assert not cache.hit("a@x.test", "pw", "h")
    assert cache.hit("b@x.test", "pw", "h")
    cache.clear()
    assert not cache.hit("b@x.test", "pw", "h")


def test_size_is_bounded_oldest_leaves_first() -> None:
    cache = AuthCache(60, max_entries=3)
    for name in ("a", "b", "c"):
        cache.remember(name, "pw", "h")
    cache.remember("a", "pw", "h")  # refreshed: now the youngest
    cache.remember("d", "pw", "h")
    assert len(cache) == 3
    assert not cache.hit("b", "pw", "h")
    assert all(cache.hit(n, "pw", "h") for n in ("a", "c", "d"))
