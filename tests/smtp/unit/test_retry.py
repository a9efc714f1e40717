"""Backoff between delivery attempts and the give-up age."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.smtp._retry import RetryPolicy


def test_delay_doubles_up_to_the_maximum() -> None:
    policy = RetryPolicy(initial=300, maximum=3600, give_up_after=5 * 86400)
    assert [policy.delay(n) for n in range(1, 7)] == [300, 600, 1200, 2400, 3600, 3600]
    assert policy.delay(10_000) == 3600  # no overflow on absurd counts


def test_jitter_stays_within_ten_percent() -> None:
    policy = RetryPolicy(initial=100, maximum=1000)
    rng = random.Random(7)
    for attempts in range(1, 6):
        value = policy.jittered(attempts, rng=rng)
        assert 0.9 * policy.delay(attempts) <= value <= 1.1 * policy.delay(attempts)


def test_next_attempt_and_give_up() -> None:
    policy = RetryPolicy(initial=60, maximum=600, give_up_after=3600, jitter=0)
    arrived = datetime(2026, 1, 1, tzinfo=UTC)
    assert policy.next_attempt(attempts=1, arrived_at=arrived, now=arrived) == arrived + timedelta(seconds=60)
    # The last retry is moved to the deadline itself, never past it.
    late = arrived + timedelta(seconds=3500)
    assert policy.next_attempt(attempts=9, arrived_at=arrived, now=late) == arrived + timedelta(seconds=3600)
    assert policy.next_attempt(attempts=10, arrived_at=arrived, now=arrived + timedelta(seconds=3600)) is None
    assert policy.expired(arrived, arrived + timedelta(seconds=3601))
