"""Maildrop locks in JetStream KV against a private nats-server: exclusive,
refreshed while held, expired when the holder stops refreshing, never
removed by a session that is no longer the holder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from libs.bus import Bus
from libs.testing.natsd import NatsServer
from services.pop3._lock import MaildropLocks

pytestmark = pytest.mark.timeout(60)

TTL = 2.0


async def open_locks(server: NatsServer, node: str) -> tuple[Bus, MaildropLocks]:
    bus = await Bus.open(server.url, name=f"lock-test-{node}")
    return bus, MaildropLocks(bus, ttl=TTL, node=node)


async def test_one_holder_at_a_time_and_release_frees_it(nats_server_factory: Callable[..., NatsServer]) -> None:
    server = nats_server_factory()
    bus_a, a = await open_locks(server, "a")
    bus_b, b = await open_locks(server, "b")
    try:
        held = await a.acquire("alice@example.test", session_id="s1")
        assert held is not None
        assert await b.acquire("alice@example.test", session_id="s2") is None
        assert await b.acquire("bob@example.test", session_id="s3") is not None
        await held.release()
        again = await b.acquire("alice@example.test", session_id="s4")
        assert again is not None
        await again.release()
    finally:
        await bus_a.close()
        await bus_b.close()


async def test_a_refreshed_lock_outlives_its_ttl(nats_server_factory: Callable[..., NatsServer]) -> None:
    server = nats_server_factory()
    bus, locks = await open_locks(server, "a")
    try:
        held = await locks.acquire("carol@example.test", session_id="s1")
        assert held is not None
        await asyncio.sleep(TTL * 2.5)
        assert await locks.acquire("carol@example.test", session_id="s2") is None
        assert not held.lost
        await held.release()
    finally:
        await bus.close()


async def test_an_abandoned_lock_expires_and_its_old_holder_never_removes_the_new_one(
    nats_server_factory: Callable[..., NatsServer],
) -> None:
    server = nats_server_factory()
    bus, locks = await open_locks(server, "a")
    try:
        stale = await locks.acquire("dave@example.test", session_id="s1")
        assert stale is not None
        stale._refresher.cancel()  # the holder hangs: no more refreshes
        deadline = asyncio.get_running_loop().time() + TTL + 10
        while (fresh := await locks.acquire("dave@example.test", session_id="s2")) is None:
            assert asyncio.get_running_loop().time() < deadline, "the abandoned lock never expired"
            await asyncio.sleep(0.2)
        await stale.refresh()  # it wakes up: the lock is someone else's now
        assert stale.lost
        await stale.release()  # must not delete the new holder's entry
        assert await locks.acquire("dave@example.test", session_id="s3") is None
        await fresh.release()
    finally:
        await bus.close()
