"""Group commit for deliveries.

On SQLite every commit is an fsync, and on PostgreSQL a WAL flush: with one
transaction per delivery the disk sets the pace. The delivery queue lets
concurrent deliver requests share a transaction: a single writer task takes
what is waiting (up to `max_batch`), stores it with a few statements per
table (_bulk.py, which falls back to one savepoint per delivery for the few
it cannot take, so one over-quota recipient does not fail the rest), commits
once, and only then answers each caller. If the shared transaction fails as
a whole (a deadlock between replicas, say), each delivery is retried on its
own.

Deliver requests do not reach the queue together: each first reads and
parses its message, one after another on the event loop. Taking only what
is queued at that instant makes batches alternate between one delivery and
all the rest, so the writer waits up to `wait` seconds for more (or until
`max_batch` are there) once requests are coming in; when the last batch was
a single delivery it does not wait, so a lone delivery is not slowed down.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from prometheus_client import Histogram

from libs.contracts import storage as contract
from libs.log import get_logger
from services.storage._bulk import store_batch
from services.storage._context import StorageContext
from services.storage._delivery import PendingDelivery, deliver_alone

BATCH_SIZE = Histogram(
    "parley_storage_delivery_batch_size", "Deliveries committed together", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)
_log = get_logger()


@dataclass
class _Waiting:
    pending: PendingDelivery
    future: asyncio.Future[contract.DeliveryResult]


class DeliveryQueue:
    def __init__(self, ctx: StorageContext, *, max_batch: int = 128, wait: float = 0.002) -> None:
        self._ctx = ctx
        self._max_batch = max_batch
        self._wait = wait
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._full = asyncio.Event()
        self._busy = False  # the last batch had company: worth waiting for the next one to fill
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery-queue")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def submit(self, items: list[PendingDelivery]) -> list[contract.DeliveryResult]:
        loop = asyncio.get_running_loop()
        waiting = [_Waiting(item, loop.create_future()) for item in items]
        for entry in waiting:
            self._queue.put_nowait(entry)
        if self._queue.qsize() >= self._max_batch:
            self._full.set()
        return list(await asyncio.gather(*(entry.future for entry in waiting)))

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            BATCH_SIZE.observe(len(batch))
            self._busy = len(batch) > 1
            await self._commit(batch)

    async def _next_batch(self) -> list[_Waiting]:
        batch = [await self._queue.get()]
        if self._busy and self._wait > 0 and self._queue.qsize() + 1 < self._max_batch:
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._wait)
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _commit(self, batch: list[_Waiting]) -> None:
        # A fixed order (account, mailbox) makes two replicas lock mailboxes alike.
        batch.sort(key=lambda w: (w.pending.target.account, w.pending.target.mailbox))
        try:
            async with self._ctx.uow() as work:
                results = await store_batch(work, self._ctx, [w.pending for w in batch])
        except Exception as exc:
            _log.warning("storage.deliver.batch_failed", size=len(batch), error=repr(exc))
            await self._one_by_one(batch)
            return
        for entry, result in zip(batch, results, strict=True):
            if not entry.future.done():
                entry.future.set_result(result)

    async def _one_by_one(self, batch: list[_Waiting]) -> None:
        for entry in batch:
            try:
                result = await deliver_alone(self._ctx, entry.pending)
            except Exception as exc:
                if not entry.future.done():
                    entry.future.set_exception(exc)
                continue
            if not entry.future.done():
                entry.future.set_result(result)
