"""The sip service's shared state on JetStream: registrations, pending IMs, call detail records.

- `LocationStore`: the KV bucket `sip_locations`, one `LocationRecord` per
  account. A change reads the entry and writes it back at that revision
  (`create` when absent); a concurrent change by another replica makes the
  write fail, and the change is made again on the new value. The bucket's
  TTL is `max_expires` plus a margin, so the entry of an account nobody
  re-registers disappears by itself; expired bindings inside an entry are
  dropped on every write and ignored on every read.
- `PendingMessages`: IMs for accounts without a binding, in the stream
  `SIP_IM_PENDING`, one subject per account. A stream (not KV) because a
  user may get many messages while away and they must come out in order;
  the registrar drains the subject when the account registers, deleting each
  message once a contact took it. Most registrations find nothing, so an
  account found empty is remembered (`EMPTY_FOR` seconds at most) and not
  asked again; every replica listens to the stream's subjects and forgets
  that as soon as any replica stores a message for the account.
- `CallRecords`: publishes `CallAttempted`/`CallAnswered`/`CallEnded` to the
  stream `CDR` and waits for the JetStream ack.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from libs.bus import Bus, ensure_kv, ensure_stream
from libs.contracts import sip as contract
from libs.log import get_logger

_log = get_logger()

DAY = 86400.0


class LocationStore:
    def __init__(self, bus: Bus, *, ttl: float) -> None:
        self.bus = bus
        self.ttl = ttl
        self._kv: Any = None
        # Changes of one account in this process wait for each other; the revision
        # check then only has to settle races between replicas.
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    async def bucket(self) -> Any:
        if self._kv is None:
            self._kv = await ensure_kv(self.bus.js, bucket=contract.LOCATION_BUCKET, history=1, ttl=self.ttl)
        return self._kv

    async def get(self, account: str) -> tuple[contract.LocationRecord | None, int | None]:
        kv = await self.bucket()
        try:
            entry = await kv.get(contract.location_key(account))
        except KeyNotFoundError:
            return None, None
        if entry.value is None or entry.operation in ("DEL", "PURGE"):
            return None, entry.revision
        return contract.LocationRecord.model_validate_json(entry.value), entry.revision

    async def bindings(self, account: str, now: float) -> list[contract.Binding]:
        record, _ = await self.get(account)
        return [] if record is None else [b for b in record.bindings if b.expires_at > now]

    async def change(
        self,
        account: str,
        update: Callable[[list[contract.Binding]], Awaitable[Any] | Any],
        *,
        attempts: int = 8,
    ) -> Any:
        """Apply `update(bindings)` -> result (with `.bindings` and `.changed`) and write it; retried on races.

        Returns the update's result once the write is acked (or an update result
        without `bindings`, e.g. a refusal, untouched)."""
        lock = self._locks.setdefault(account, asyncio.Lock())
        self._waiting[account] = self._waiting.get(account, 0) + 1
        try:
            async with lock:
                return await self._change(account, update, attempts)
        finally:
            self._waiting[account] -= 1
            if not self._waiting[account]:
                del self._waiting[account]
                del self._locks[account]

    async def _change(self, account: str, update: Callable[[list[contract.Binding]], Any], attempts: int) -> Any:
        kv = await self.bucket()
        key = contract.location_key(account)
        for _ in range(attempts):
            record, revision = await self.get(account)
            result = update(record.bindings if record else [])
            if hasattr(result, "__await__"):
                result = await result
            if not getattr(result, "changed", False):
                return result
            value = contract.LocationRecord(aor=account, bindings=result.bindings).model_dump_json().encode()
            try:
                if not result.bindings and record is not None:
                    await kv.delete(key, last=revision)
                elif record is None and revision is None:
                    await kv.create(key, value)
                elif record is None:
                    await kv.update(key, value, last=revision)
                else:
                    await kv.update(key, value, last=revision)
            except KeyWrongLastSequenceError:
                await asyncio.sleep(random.uniform(0, 0.02))  # another replica wrote first: read again
                continue
            except Exception as exc:  # noqa: BLE001 - create on a deleted key reports a wrong sequence too
                if "wrong last sequence" in str(exc).lower():
                    await asyncio.sleep(random.uniform(0, 0.02))
                    continue
                raise
            return result
        raise RuntimeError(f"too many concurrent changes of the location of {account}")


EMPTY_FOR = 60.0
_MAX_REMEMBERED = 100_000


class PendingMessages:
    def __init__(self, bus: Bus, *, max_age: float = 30 * DAY) -> None:
        self.bus = bus
        self.max_age = max_age
        self._ready = False
        self._empty: dict[str, float] = {}  # subject -> when it was found empty (monotonic)
        self._stored: dict[str, int] = {}  # subject -> number of the last store heard of
        self._heard = 0
        self._forgot_at = 0  # `_stored` was cleared when this many stores had been heard of

    async def ensure(self) -> None:
        if not self._ready:
            await ensure_stream(self.bus.js, name=contract.IM_PENDING_STREAM, subjects=[contract.IM_PENDING_SUBJECTS],
                                max_age=self.max_age, max_msgs_per_subject=1000)  # fmt: skip
            await self.bus.nc.subscribe(contract.IM_PENDING_SUBJECTS, cb=self._on_stored)
            self._ready = True

    async def _on_stored(self, msg: Any) -> None:
        self._note(msg.subject)

    def _note(self, subject: str) -> None:
        self._heard += 1
        self._empty.pop(subject, None)
        if len(self._stored) >= _MAX_REMEMBERED:
            self._stored.clear()
            self._empty.clear()  # without the store numbers, no empty subject can be trusted
            self._forgot_at = self._heard
        self._stored[subject] = self._heard

    async def keep(self, account: str, data: bytes) -> None:
        """Store a whole MESSAGE request (as received) for the account; returns once acked."""
        await self.ensure()
        subject = contract.im_pending_subject(account)
        self._note(subject)
        await self.bus.js.publish(subject, data, stream=contract.IM_PENDING_STREAM)

    async def pending(self, account: str, limit: int = 100) -> list[tuple[int, bytes]]:
        await self.ensure()
        subject = contract.im_pending_subject(account)
        found = self._empty.get(subject)
        if found is not None and time.monotonic() - found < EMPTY_FOR:
            return []
        heard_before = self._heard
        out = await self._read(subject, limit)
        # Empty, and nothing stored for it since the read began: remember that.
        if not out and self._forgot_at <= heard_before and self._stored.get(subject, 0) <= heard_before:
            if len(self._empty) >= _MAX_REMEMBERED:
                self._empty.clear()
            self._empty[subject] = time.monotonic()
        return out

    async def _read(self, subject: str, limit: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        seq = 1
        while len(out) < limit:
            try:
                msg = await self.bus.js.get_msg(contract.IM_PENDING_STREAM, seq=seq, subject=subject, next=True)
            except NotFoundError:
                break
            if msg.seq is None:
                break
            out.append((msg.seq, msg.data or b""))
            seq = msg.seq + 1
        return out

    async def delivered(self, seq: int) -> None:
        try:
            await self.bus.js.delete_msg(contract.IM_PENDING_STREAM, seq)
        except NotFoundError:
            pass  # another replica delivered it first


class CallRecords:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._ready = False

    async def ensure(self) -> None:
        if not self._ready:
            await ensure_stream(self.bus.js, name=contract.CDR_STREAM, subjects=[contract.CDR_SUBJECTS])
            self._ready = True

    async def publish(self, event: contract.CallEvent) -> None:
        try:
            await self.ensure()
            await self.bus.js.publish(event.subject(), event.model_dump_json().encode(), stream=contract.CDR_STREAM)
        except Exception as exc:  # noqa: BLE001 - a call goes on without its record; logged for replay
            _log.error("sip.cdr.publish_failed", call_id=event.call_id, error=repr(exc), record=event.model_dump_json())
