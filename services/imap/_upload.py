"""APPEND message data on its way into the blob store, streamed (never held in memory).

The core hands out message data in chunks (`AppendDataChunk`); an `Upload`
passes them through a small queue to `BlobStore.put_stream`, so a slow blob
store slows the client down instead of growing a buffer. The blob is durable
(fsynced, or acknowledged by S3) when `finish()` returns its digest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from libs.blobs import BlobStore

_END = b""
QUEUE_DEPTH = 8


class UploadAborted(Exception):
    """The command failed before the data ended; the partial blob is never named."""


class Upload:
    def __init__(self, blobs: BlobStore) -> None:
        self._queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue(QUEUE_DEPTH)
        self._task = asyncio.create_task(blobs.put_stream(self._chunks()))

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            item = await self._queue.get()
            if isinstance(item, BaseException):
                raise item
            if item is _END:
                return
            yield item

    async def add(self, data: bytes) -> None:
        if data and not self._task.done():
            await self._queue.put(data)

    async def finish(self, timeout: float = 120.0) -> str:
        if not self._task.done():
            await self._queue.put(_END)
        return (await asyncio.wait_for(self._task, timeout)).digest

    async def abort(self) -> None:
        if not self._task.done():
            try:
                self._queue.put_nowait(UploadAborted())
            except asyncio.QueueFull:
                self._task.cancel()
        try:
            await self._task
        except (Exception, asyncio.CancelledError):
            pass
