"""Stored IMs: an account found without any is not read again until a store for it is heard of."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from nats.js.errors import NotFoundError

from libs.contracts import sip as contract
from services.sip._stores import PendingMessages


class FakeJetStream:
    """A stream of (seq, subject, data) with the two calls PendingMessages makes."""

    def __init__(self) -> None:
        self.messages: list[tuple[int, str, bytes]] = []
        self.reads = 0
        self.during_read: Any = None  # called once, inside the next read

    async def get_msg(self, stream: str, *, seq: int, subject: str, next: bool) -> Any:  # noqa: A002
        self.reads += 1
        if self.during_read is not None:
            hook, self.during_read = self.during_read, None
            hook()
        await asyncio.sleep(0)
        for number, name, data in self.messages:
            if number >= seq and name == subject:
                return SimpleNamespace(seq=number, data=data)
        raise NotFoundError

    async def publish(self, subject: str, data: bytes, *, stream: str) -> None:
        self.messages.append((len(self.messages) + 1, subject, data))


def pending_messages() -> tuple[PendingMessages, FakeJetStream]:
    js = FakeJetStream()
    store = PendingMessages(SimpleNamespace(js=js))  # type: ignore[arg-type]
    store._ready = True  # the stream and the subscription are the bus's business here
    return store, js


async def test_an_empty_account_is_read_once() -> None:
    store, js = pending_messages()
    assert await store.pending("alice@example.test") == []
    assert await store.pending("alice@example.test") == []
    assert js.reads == 1


async def test_a_store_heard_from_another_replica_makes_it_read_again() -> None:
    store, js = pending_messages()
    assert await store.pending("alice@example.test") == []
    subject = contract.im_pending_subject("alice@example.test")
    await js.publish(subject, b"MESSAGE", stream=contract.IM_PENDING_STREAM)  # another replica
    await store._on_stored(SimpleNamespace(subject=subject, data=b"MESSAGE"))
    assert await store.pending("alice@example.test") == [(1, b"MESSAGE")]


async def test_a_store_during_the_read_is_not_lost() -> None:
    store, js = pending_messages()
    subject = contract.im_pending_subject("alice@example.test")
    js.during_read = lambda: store._note(subject)  # stored right after the read looked
    assert await store.pending("alice@example.test") == []
    await js.publish(subject, b"MESSAGE", stream=contract.IM_PENDING_STREAM)
    assert await store.pending("alice@example.test") == [(1, b"MESSAGE")]


async def test_a_local_store_makes_it_read_again() -> None:
    store, js = pending_messages()
    assert await store.pending("bob@example.test") == []
    await store.keep("bob@example.test", b"MESSAGE")
    assert await store.pending("bob@example.test") == [(1, b"MESSAGE")]
    assert await store.pending("carol@example.test") == []
