"""Per-client token buckets on explicit time."""

from __future__ import annotations

from services.sip._ratelimit import ClientRateLimiter


def test_burst_then_rate() -> None:
    limiter = ClientRateLimiter(rate=2, burst=3)
    assert [limiter.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b", 0.0)  # another client has its own bucket
    assert not limiter.allow("a", 0.4)
    assert limiter.allow("a", 0.5)  # one token back after 1/rate seconds


def test_zero_rate_is_off_and_full_table_forgets_refilled_clients() -> None:
    assert all(ClientRateLimiter(rate=0, burst=1).allow("a", 0.0) for _ in range(100))
    limiter = ClientRateLimiter(rate=1, burst=1, max_clients=2)
    limiter.allow("a", 0.0)
    limiter.allow("b", 0.0)
    limiter.allow("c", 5.0)
    assert set(limiter._buckets) == {"c"}
