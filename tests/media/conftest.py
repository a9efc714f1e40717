"""Fixtures of the media tests: a started native relay and a session manager on a private port range."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from services.media._ports import PortPool
from services.media._relay import Relay
from services.media._sessions import SessionManager
from tests.media.rtp import Phone


def port_range(pairs: int) -> tuple[int, int]:
    """A random stretch of high ports; a pair some other program holds is skipped by the pool."""
    low = random.randrange(41000, 60000, 2)
    return low, low + 2 * pairs - 1


@pytest.fixture
def relay() -> Iterator[Relay]:
    r = Relay()
    r.start()
    yield r
    r.close()


def make_manager(relay: Relay, pairs: int = 50, relatch_ms: int = 2000) -> SessionManager:
    low, high = port_range(pairs)
    pool = PortPool(low=low, high=high, host="127.0.0.1")
    return SessionManager(
        relays=[relay], ports=pool, node="test-node", advertised_address="127.0.0.1", relatch_ms=relatch_ms
    )


@pytest.fixture
def manager(relay: Relay) -> Iterator[SessionManager]:
    m = make_manager(relay)
    yield m
    m.close()


@pytest.fixture
def phones() -> Iterator[list[Phone]]:
    made: list[Phone] = []
    yield made
    for phone in made:
        phone.close()
