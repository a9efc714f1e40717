"""Writing finished records to the daily files, exactly once (see _daily_file.py for the protocol)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from libs.log import get_logger
from services.cdr._daily_file import DailyFiles
from services.cdr._records import Record
from services.cdr._store import CdrStore

_log = get_logger()


class Filing:
    def __init__(self, store: CdrStore, files: DailyFiles | None) -> None:
        self._store = store
        self._files = files
        # One writer at a time: the consumer and the sweeper both file records.
        self._lock = asyncio.Lock()

    async def file(self, records: Sequence[Record]) -> None:
        """Append and fsync the lines of records that just became final, then mark them filed."""
        if self._files is None or not records:
            return
        async with self._lock:
            await asyncio.to_thread(self._files.append, records)
            await self._store.mark_filed(records)

    async def recover(self) -> None:
        """At start: file what a crash left final but unfiled, skipping lines already in the files."""
        if self._files is None:
            return
        async with self._lock:
            while records := await self._store.unfiled():
                written = await asyncio.to_thread(self._files.write_missing, records)
                await self._store.mark_filed(records)
                _log.info("cdr.file.recovered", records=len(records), written=written)
