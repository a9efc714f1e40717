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
all the rest. So a request announces itself while it prepares
(`arriving()`), and the writer, once it has a delivery, waits for those
announced to be queued too (at most `wait` seconds, or until `max_batch`
are there). With nothing on its way, a lone delivery is committed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
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
    def __init__(self, ctx: StorageContext, *, max_batch: int = 128, wait: float = 0.005) -> None:
        self._ctx = ctx
        self._max_batch = max_batch
        self._wait = wait
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._arriving = 0  # deliver requests preparing, which will submit shortly
        self._settled = asyncio.Event()  # nothing more on its way, or a full batch waiting
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery-queue")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Around a deliver request's preparation: the writer may wait for it to submit."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1
            self._check_settled()

    async def submit(self, items: list[PendingDelivery]) -> list[contract.DeliveryResult]:
        loop = asyncio.get_running_loop()
        waiting = [_Waiting(item, loop.create_future()) for item in items]
        for entry in waiting:
            self._queue.put_nowait(entry)
        self._check_settled()
        return list(await asyncio.gather(*(entry.future for entry in waiting)))

    def _check_settled(self) -> None:
        if self._arriving == 0 or self._queue.qsize() >= self._max_batch:
            self._settled.set()

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            BATCH_SIZE.observe(len(batch))
            await self._commit(batch)

    async def _next_batch(self) -> list[_Waiting]:
        batch = [await self._queue.get()]
        if self._arriving and self._wait > 0 and self._queue.qsize() + 1 < self._max_batch:
            self._settled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), self._wait)
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
