"""Maildrop locks shared by every pop3 replica, in JetStream KV (RFC 1939 section 8).

How this works
--------------
The lock of an account is the entry `lock_key(account)` of the KV bucket
`LOCK_BUCKET` (libs/contracts/pop3.py). A session takes it with `create`,
which JetStream performs only if the key has no live value, so two replicas
racing for one account cannot both win. The holder rewrites the entry every
`ttl / 3` seconds with `update(last=revision)`; the bucket's TTL (max age)
removes an entry nobody rewrote for `ttl` seconds, so the lock of a process
that crashed or lost its network expires on its own. QUIT, a dropped
connection or a shutdown delete the entry at once, again only at the
holder's revision, so a session never removes a lock that is no longer its own.

Why KV and not storage: storage's contract has no lock, and the lock is
shared, short-lived front-end state, which is what the architecture keeps in
JetStream KV (like SIP registrations). Every replica sees the same bucket,
so any replica serves any account.

A lost refresh (NATS unreachable for longer than the TTL, then another
session took the lock) is logged and counted; the session goes on. Its
deletions are still safe: they name UIDs, which storage never reuses, so
they can only remove messages this session listed.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from nats.js.errors import KeyWrongLastSequenceError

from libs.bus import Bus, ensure_kv
from libs.contracts import pop3 as contract
from libs.log import get_logger
from services.pop3 import _metrics

_log = get_logger()


class LockUnavailable(Exception):
    """The lock bucket could not be reached: a temporary failure (-ERR [SYS/TEMP])."""


class MaildropLock:
    """One held lock; `release()` it when the session ends."""

    def __init__(self, locks: MaildropLocks, *, account: str, key: str, revision: int, value: bytes) -> None:
        self._locks = locks
        self.account = account
        self.key = key
        self.revision = revision
        self._value = value
        self.lost = False
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._locks.refresh_interval)
            await self.refresh()

    async def refresh(self) -> None:
        kv = await self._locks.bucket()
        try:
            self.revision = await kv.update(self.key, self._value, last=self.revision)
            return
        except KeyWrongLastSequenceError:
            pass
        except Exception as exc:  # NATS down: try again next time, the TTL leaves some slack
            _log.warning("pop3.lock.refresh_failed", account=self.account, error=repr(exc))
            return
        # Our entry expired (we could not refresh in time). Take it again if it is free.
        try:
            self.revision = await kv.create(self.key, self._value)
            self.lost = False
            _log.warning("pop3.lock.retaken", account=self.account)
        except Exception:
            if not self.lost:
                self.lost = True
                _metrics.LOCKS_LOST.inc()
                _log.warning("pop3.lock.lost", account=self.account)

    async def release(self) -> None:
        self._refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._refresher
        if self.lost:
            return
        try:
            kv = await self._locks.bucket()
            await kv.delete(self.key, last=self.revision)
        except Exception as exc:  # the TTL removes it
            _log.info("pop3.lock.release_failed", account=self.account, error=repr(exc))


class MaildropLocks:
    def __init__(self, bus: Bus, *, ttl: float, node: str) -> None:
        self.bus = bus
        self.ttl = ttl
        self.node = node
        self.refresh_interval = ttl / 3
        self._kv: Any = None

    async def bucket(self) -> Any:
        if self._kv is None:
            # history=1: only the current holder matters. The TTL is fixed when the
            # bucket is created (the first pop3 process to start decides).
            self._kv = await ensure_kv(self.bus.js, bucket=contract.LOCK_BUCKET, history=1, ttl=self.ttl)
        return self._kv

    async def acquire(self, account: str, *, session_id: str) -> MaildropLock | None:
        """The account's lock, or None when another session holds it; LockUnavailable if NATS fails."""
        key = contract.lock_key(account)
        holder = contract.MaildropLockHolder(
            account=account, session_id=session_id, node=self.node, acquired_at=datetime.now(UTC)
        )
        value = holder.model_dump_json().encode()
        try:
            kv = await self.bucket()
            revision = await kv.create(key, value)
        except KeyWrongLastSequenceError:
            return None
        except Exception as exc:
            raise LockUnavailable(repr(exc)) from exc
        return MaildropLock(self, account=account, key=key, revision=revision, value=value)
