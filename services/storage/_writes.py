"""On SQLite, this process's write transactions take turns and share commits.

SQLite has one writer at a time: every write transaction starts with BEGIN
IMMEDIATE, and a second connection that tries meanwhile waits in SQLite's
busy handler, which sleeps and polls (1, 2, 5 ... up to 100 ms at a time)
rather than being woken when the lock frees. So the writers of one process
queue on an asyncio lock instead; the busy handler is left for the rare
writer in another process (a second replica on the same file, a migration).

Taking turns alone still pays one commit, an fsync of the WAL, per STORE,
APPEND or EXPUNGE. So a writer that finishes while others are queued leaves
the transaction open and hands it to the next one; the last writer of the
line (or the `max_batch`th) commits for all, and only then does each of
them return, so every reply still follows its own commit. Each writer's
work runs in a savepoint of the shared transaction: one that fails is
rolled back alone and raises, the others are kept. A writer's events go out
after the commit, as with the plain unit of work. Inside a writer's block
nothing may commit or roll back the session itself (raise instead).

PostgreSQL has row locks and commits concurrently, so there the unit of
work is used as is (deliveries have their own group commit, _batching.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.contracts.errors import Conflict
from libs.db.unit_of_work import Publisher, UnitOfWork, Work
from libs.log import get_logger

_log = get_logger()


@dataclass
class _Batch:
    session: AsyncSession
    committed: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    size: int = 0


class GroupCommitUnitOfWork(UnitOfWork):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], publish: Publisher, *, max_batch: int = 64) -> None:
        super().__init__(sessions, publish)
        self._events_out = publish
        self._max_batch = max_batch
        self._turn = asyncio.Lock()
        self._queued = 0  # writers waiting for their turn
        self._batch: _Batch | None = None  # the open shared transaction, if any

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Work]:
        await self._take_turn()
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch(self.sessions())
        batch.size += 1
        work = Work(batch.session)
        failure: BaseException | None = None
        try:
            async with batch.session.begin_nested():
                yield work
        except IntegrityError:
            failure = Conflict("that name was taken or changed concurrently; try again")
        except BaseException as exc:
            failure = exc
        if self._queued and batch.size < self._max_batch:
            self._turn.release()  # the next writer goes on in this transaction and commits for us
            if failure is None:
                await asyncio.shield(batch.committed)
        else:
            await self._commit(batch)  # releases the turn
            if failure is None:
                batch.committed.result()
        if failure is not None:
            raise failure
        for event in work.events:
            try:
                await self._events_out(event)
            except Exception as exc:  # the bus being down must not undo a committed change
                _log.warning("storage.event.unpublished", subject=event.subject(), error=repr(exc))

    async def _take_turn(self) -> None:
        self._queued += 1
        try:
            await self._turn.acquire()
        except BaseException:
            self._queued -= 1
            if self._batch is not None and not self._queued and not self._turn.locked():
                # We were the one meant to commit what was left open: do it anyway.
                asyncio.create_task(self._commit_orphan(self._batch))  # noqa: RUF006
            raise
        self._queued -= 1

    async def _commit_orphan(self, batch: _Batch) -> None:
        await self._turn.acquire()
        if self._batch is batch:
            await self._commit(batch)
        else:
            self._turn.release()

    async def _commit(self, batch: _Batch) -> None:
        """Commit the shared transaction (we hold the turn), close it, give the turn back."""
        self._batch = None
        try:
            await batch.session.commit()
        except IntegrityError:
            batch.committed.set_exception(Conflict("that name was taken or changed concurrently; try again"))
        except BaseException as exc:
            batch.committed.set_exception(exc)
        else:
            batch.committed.set_result(None)
        finally:
            try:
                await batch.session.close()
            finally:
                self._turn.release()
        if batch.committed.exception() is not None:
            _log.warning("storage.commit.failed", writers=batch.size, error=repr(batch.committed.exception()))
