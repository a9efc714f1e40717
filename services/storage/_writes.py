"""On SQLite, this process's write transactions take turns on an asyncio lock.

SQLite has one writer at a time: every write transaction starts with BEGIN
IMMEDIATE, and a second connection that tries meanwhile waits in SQLite's
busy handler, which sleeps and polls (1, 2, 5 ... up to 100 ms at a time)
rather than being woken when the lock frees. With a handful of concurrent
IMAP clients storing flags, appending and expunging, most of a write's time
went into those sleeps. Queueing the writers of one process on an asyncio
lock instead hands the database over the moment the previous commit ends;
the busy handler is left for the rare writer in another process (a second
replica on the same file, a migration). PostgreSQL has row locks and needs
no such turn-taking, so there the unit of work is used as is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from libs.db.unit_of_work import UnitOfWork, Work


class SerialUnitOfWork(UnitOfWork):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._turn = asyncio.Lock()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Work]:
        async with self._turn, super().__call__() as work:
            yield work
