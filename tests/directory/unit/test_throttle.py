"""Sliding-window failure counting."""

from services.directory._throttle import FailureWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttles_after_limit_and_recovers_after_window() -> None:
    clock = Clock()
    window = FailureWindow(limit=3, window=60, clock=clock)
    for _ in range(2):
        window.record_failure("alice")
    assert window.retry_after("alice") is None
    window.record_failure("alice")
    assert window.retry_after("alice") == 60
    clock.now += 30
    assert window.retry_after("alice") == 30
    clock.now += 31
    assert window.retry_after("alice") is None


def test_reset_clears_and_keys_are_independent() -> None:
    window = FailureWindow(limit=1, window=60, clock=Clock())
    window.record_failure("a")
    assert window.retry_after("a") is not None
    assert window.retry_after("b") is None
    window.reset("a")
    assert window.retry_after("a") is None


def test_memory_is_bounded_under_a_spray_of_keys() -> None:
    window = FailureWindow(limit=5, window=60, max_keys=100, clock=Clock())
    for i in range(10_000):
        window.record_failure(f"10.0.{i // 256}.{i % 256}")
    assert len(window._failures) == 100
