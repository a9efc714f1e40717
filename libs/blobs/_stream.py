"""Hash-while-writing for streamed puts, shared by the backends.

A streamed body is written to a temporary file as it arrives, hashing each
piece on the way, because the blob's name (its sha256) is known only at the
end. Small chunks are gathered into pieces of about `COALESCE_SIZE` before
each hand-off to a worker thread: one thread hop per 100-byte network read
would cost more than the write. Memory stays at about one piece plus one
chunk, whatever the body's size.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import BinaryIO, TypeVar

COALESCE_SIZE = 1024 * 1024

T = TypeVar("T")


class HashingWriter:
    """Writes to a file while computing the sha256 and length of what was written."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        # hashlib releases the GIL for large buffers, so this runs in a worker thread.
        self._hash.update(data)
        self.file.write(data)
        self.size += len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


async def run_in(executor: Executor | None, function: Callable[..., T], *args: object) -> T:
    """Run blocking file work in `executor` (None: the loop's default pool)."""
    return await asyncio.get_running_loop().run_in_executor(executor, function, *args)


async def drain(chunks: AsyncIterator[bytes], writer: HashingWriter, executor: Executor | None) -> None:
    """Write every chunk through `writer`, off the event loop, in pieces of about COALESCE_SIZE."""
    pending = bytearray()
    async for chunk in chunks:
        if not pending and len(chunk) >= COALESCE_SIZE:
            # A big chunk goes as it is: no copy into the buffer.
            await run_in(executor, writer.write, chunk)
            continue
        pending += chunk
        if len(pending) >= COALESCE_SIZE:
            full, pending = pending, bytearray()
            await run_in(executor, writer.write, full)
    if pending:
        await run_in(executor, writer.write, pending)
