"""Token buckets per client address or account."""

from __future__ import annotations

from services.smtp._ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_steady_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(6, clock=clock)
    assert all(limiter.allow("a") for _ in range(6))
    assert not limiter.allow("a")
    assert limiter.allow("b"), "another client is unaffected"
    clock.now += 10  # 6 a minute: one token every 10 seconds
    assert limiter.allow("a")
    assert not limiter.allow("a")
    clock.now += 3600
    assert sum(limiter.allow("a") for _ in range(10)) == 6, "never more than a minute's worth"


def test_refused_attempts_do_not_take_tokens() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    for _ in range(60):
        limiter.allow("a")
    for _ in range(100):
        assert not limiter.allow("a")
    clock.now += 1
    assert limiter.allow("a")


def test_zero_is_off() -> None:
    limiter = RateLimiter(0)
    assert not limiter.enabled
    assert all(limiter.allow("a") for _ in range(1000))
    assert len(limiter) == 0


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(1, max_keys=100)
    for i in range(1000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 100
    assert limiter.allow("10.0.0.0"), "the oldest clients are forgotten first"
