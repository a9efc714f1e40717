"""One bus subscription per subject for all the sessions of this process that follow it.

Every logged-in session follows storage's change events of its account
(`storage.mailbox.changed.<account>`). A nats-py subscription per session
costs a queue, a task and their futures (some kilobytes per idle session)
and makes nats-server deliver each event once per session; here the first
session of a subject subscribes, later ones join it, each message is handed
to every joined callback in turn, and the last one to leave unsubscribes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from libs.bus import Bus
from libs.log import get_logger

Callback = Callable[[Any], Awaitable[None]]

_log = get_logger()


class _Fanout:
    """The callbacks that follow one subject, and the bus subscription that feeds them."""

    def __init__(self) -> None:
        self.callbacks: dict[int, Callback] = {}
        self.subscription: Any = None

    async def deliver(self, msg: Any) -> None:
        for callback in list(self.callbacks.values()):
            try:
                await callback(msg)
            except Exception:  # one session's bug must not starve the others of updates
                _log.exception("imap.changes.callback_failed")


class Joined:
    """One session's place in a fan-out; `unsubscribe()` as for a bus subscription."""

    def __init__(self, feed: ChangeFeed, subject: str, key: int) -> None:
        self._feed, self._subject, self._key = feed, subject, key

    async def unsubscribe(self) -> None:
        await self._feed.leave(self._subject, self._key)


class ChangeFeed:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._fanouts: dict[str, _Fanout] = {}
        self._next_key = 0

    def followed(self) -> int:
        """Subjects with a bus subscription (or one being made) right now."""
        return len(self._fanouts)

    async def subscribe(self, subject: str, *, cb: Callback) -> Joined:
        """Follow `subject` with `cb` (called with each bus message); raises if the bus refuses."""
        self._next_key += 1
        key = self._next_key
        fanout = self._fanouts.get(subject)
        if fanout is not None:
            fanout.callbacks[key] = cb
            return Joined(self, subject, key)
        fanout = self._fanouts[subject] = _Fanout()
        fanout.callbacks[key] = cb
        try:
            subscription = await self._bus.nc.subscribe(subject, cb=fanout.deliver)
        except BaseException:
            if self._fanouts.get(subject) is fanout:
                del self._fanouts[subject]
            raise
        if self._fanouts.get(subject) is not fanout:
            # Every session left while the subscription was being made.
            await subscription.unsubscribe()
        else:
            fanout.subscription = subscription
        return Joined(self, subject, key)

    async def leave(self, subject: str, key: int) -> None:
        fanout = self._fanouts.get(subject)
        if fanout is None or fanout.callbacks.pop(key, None) is None or fanout.callbacks:
            return
        del self._fanouts[subject]
        if fanout.subscription is not None:
            await fanout.subscription.unsubscribe()
