"""The change feed: sessions of one account share one bus subscription, and each gets every event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from services.imap._changes import ChangeFeed


@dataclass
class _Msg:
    data: bytes


@dataclass
class _Subscription:
    subject: str
    cb: Any
    unsubscribed: bool = False

    async def unsubscribe(self) -> None:
        self.unsubscribed = True


@dataclass
class _Nats:
    """What ChangeFeed uses of a nats-py client; `gate` holds subscribe() back until set."""

    subscriptions: list[_Subscription] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def subscribe(self, subject: str, *, cb: Any) -> _Subscription:
        if self.gate is not None:
            await self.gate.wait()
        subscription = _Subscription(subject, cb)
        self.subscriptions.append(subscription)
        return subscription

    async def publish(self, subject: str, data: bytes) -> None:
        for subscription in self.subscriptions:
            if subscription.subject == subject and not subscription.unsubscribed:
                await subscription.cb(_Msg(data))


@dataclass
class _Bus:
    nc: _Nats


def _collector() -> tuple[list[bytes], Any]:
    seen: list[bytes] = []

    async def cb(msg: Any) -> None:
        seen.append(msg.data)

    return seen, cb


async def test_sessions_of_one_account_share_one_subscription_and_each_gets_every_event() -> None:
    nats = _Nats()
    feed = ChangeFeed(_Bus(nats))  # type: ignore[arg-type]
    first, first_cb = _collector()
    second, second_cb = _collector()
    other, other_cb = _collector()
    await feed.subscribe("storage.mailbox.changed.a", cb=first_cb)
    await feed.subscribe("storage.mailbox.changed.a", cb=second_cb)
    await feed.subscribe("storage.mailbox.changed.b", cb=other_cb)
    assert [s.subject for s in nats.subscriptions] == ["storage.mailbox.changed.a", "storage.mailbox.changed.b"]
    await nats.publish("storage.mailbox.changed.a", b"e1")
    assert first == second == [b"e1"]
    assert other == []


async def test_the_last_session_to_leave_unsubscribes() -> None:
    nats = _Nats()
    feed = ChangeFeed(_Bus(nats))  # type: ignore[arg-type]
    first, first_cb = _collector()
    second, second_cb = _collector()
    one = await feed.subscribe("s", cb=first_cb)
    two = await feed.subscribe("s", cb=second_cb)
    await one.unsubscribe()
    assert not nats.subscriptions[0].unsubscribed
    await nats.publish("s", b"e1")
    assert (first, second) == ([], [b"e1"])
    await two.unsubscribe()
    await two.unsubscribe()  # twice is harmless
    assert nats.subscriptions[0].unsubscribed
    assert feed.followed() == 0
    # A later session subscribes afresh.
    await feed.subscribe("s", cb=first_cb)
    assert len(nats.subscriptions) == 2 and not nats.subscriptions[1].unsubscribed


async def test_a_failing_callback_does_not_keep_the_event_from_the_others() -> None:
    nats = _Nats()
    feed = ChangeFeed(_Bus(nats))  # type: ignore[arg-type]
    seen, cb = _collector()

    async def broken(msg: Any) -> None:
        raise RuntimeError("bug in one session")

    await feed.subscribe("s", cb=broken)
    await feed.subscribe("s", cb=cb)
    await nats.publish("s", b"e1")
    assert seen == [b"e1"]


async def test_leaving_while_the_subscription_is_being_made_leaves_no_subscription_behind() -> None:
    nats = _Nats(gate=asyncio.Event())
    feed = ChangeFeed(_Bus(nats))  # type: ignore[arg-type]
    _, cb = _collector()
    pending = asyncio.ensure_future(feed.subscribe("s", cb=cb))
    await asyncio.sleep(0)
    await feed.leave("s", 1)  # the session's key: it ended before its subscribe() returned
    nats.gate.set()  # type: ignore[union-attr]
    await pending
    assert [s.unsubscribed for s in nats.subscriptions] == [True]
    assert feed.followed() == 0


async def test_a_refused_subscription_raises_and_is_forgotten() -> None:
    class _Refusing(_Nats):
        async def subscribe(self, subject: str, *, cb: Any) -> _Subscription:
            raise ConnectionError("bus away")

    feed = ChangeFeed(_Bus(_Refusing()))  # type: ignore[arg-type]
    _, cb = _collector()
    try:
        await feed.subscribe("s", cb=cb)
    except ConnectionError:
        pass
    else:
        raise AssertionError("subscribe() should raise when the bus refuses")
    assert feed.followed() == 0
