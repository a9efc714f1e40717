"""Writing finished records to the daily files, exactly once (see _daily_file.py for the protocol).

Every change that can finalise rows (a consumer batch, a sweep) runs through
`finish()`: its transaction, the append and fsync of the lines, and the
`filed` mark happen under one lock. So when recovery runs (at start, and
before the next unit after an append or mark failed), no unit of this
process is half done, and every final row that is not marked filed is one
whose line may or may not be in the file: recovery writes only those whose
(call_id, leg) the file does not have yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from libs.log import get_logger
from services.cdr._daily_file import DailyFiles
from services.cdr._records import Record
from services.cdr._store import CdrStore

_log = get_logger()


class Filing:
    def __init__(self, store: CdrStore, files: DailyFiles | None) -> None:
        self._store = store
        self._files = files
        self._lock = asyncio.Lock()
        self._dirty = files is not None  # a previous process may have crashed mid-unit

    async def finish(self, work: Callable[[], Awaitable[list[Record]]]) -> list[Record]:
        """Run `work` (a transaction returning the records it made final) and file those records, as one unit."""
        async with self._lock:
            if self._dirty:
                await self._recover()
            records = await work()
            if self._files is not None and records:
                try:
                    await asyncio.to_thread(self._files.append, records)
                    await self._store.mark_filed(records)
                except BaseException:
                    self._dirty = True  # the lines may be in the file or not: recovery decides
                    raise
            return records

    async def recover(self) -> None:
        async with self._lock:
            if self._dirty:
                await self._recover()

    async def _recover(self) -> None:
        assert self._files is not None
        while records := await self._store.unfiled():
            written = await asyncio.to_thread(self._files.write_missing, records)
            await self._store.mark_filed(records)
            _log.info("cdr.file.recovered", records=len(records), written=written)
        self._dirty = False
