"""The `presence` KV bucket: every live publication of every presentity, shared by the sip farm.

One `PresenceRecord` per account, written at the revision read (a concurrent
write by another replica makes us read and apply again), as `sip_locations`
is. The bucket's TTL is the longest publication plus a margin, so the entry
of a presentity nobody refreshes goes away by itself; expired publications
inside an entry are ignored on read and dropped on the next write.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from libs.bus import Bus, ensure_kv
from libs.contracts import presence as contract
from services.sip._publications import PublishDone, PublishRefused, live


class PresenceStore:
    def __init__(self, bus: Bus, *, ttl: float) -> None:
        self.bus = bus
        self.ttl = ttl
        self._kv: Any = None
        self._locks: dict[str, asyncio.Lock] = {}

    async def bucket(self) -> Any:
        if self._kv is None:
            self._kv = await ensure_kv(self.bus.js, bucket=contract.PRESENCE_BUCKET, history=1, ttl=self.ttl)
        return self._kv

    async def get(self, account: str) -> tuple[list[contract.Publication], int | None]:
        kv = await self.bucket()
        try:
            entry = await kv.get(contract.presence_key(account))
        except KeyNotFoundError:
            return [], None
        if entry.value is None or entry.operation in ("DEL", "PURGE"):
            return [], entry.revision
        return contract.PresenceRecord.model_validate_json(entry.value).publications, entry.revision

    async def publications(self, account: str, now: float) -> list[contract.Publication]:
        return live((await self.get(account))[0], now)

    async def change(self, account: str, update: Callable[[list[contract.Publication]], PublishDone | PublishRefused],
                     *, attempts: int = 8) -> PublishDone | PublishRefused:  # fmt: skip
        """Apply `update` to the account's publications and write the result; retried on races."""
        lock = self._locks.setdefault(account, asyncio.Lock())
        try:
            async with lock:
                return await self._change(account, update, attempts)
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._locks.pop(account, None)

    async def _change(self, account: str, update: Callable[[list[contract.Publication]], Any],
                      attempts: int) -> PublishDone | PublishRefused:  # fmt: skip
        kv = await self.bucket()
        key = contract.presence_key(account)
        for _ in range(attempts):
            publications, revision = await self.get(account)
            result = update(publications)
            if isinstance(result, PublishRefused):
                return result
            value = contract.PresenceRecord(account=account, publications=result.publications)
            try:
                if not result.publications and revision is not None and publications:
                    await kv.delete(key, last=revision)
                elif not result.publications:
                    return result
                elif revision is None:
                    await kv.create(key, value.model_dump_json().encode())
                else:
                    await kv.update(key, value.model_dump_json().encode(), last=revision)
            except KeyWrongLastSequenceError:
                await asyncio.sleep(random.uniform(0, 0.02))  # another replica wrote first: read again
                continue
            except Exception as exc:  # noqa: BLE001 - create on a deleted key reports a wrong sequence too
                if "wrong last sequence" not in str(exc).lower():
                    raise
                await asyncio.sleep(random.uniform(0, 0.02))
                continue
            return result
        raise RuntimeError(f"too many concurrent changes of the presence of {account}")
