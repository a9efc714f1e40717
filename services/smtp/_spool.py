"""Message content on its way into the blob store: trace headers first, then the body, streamed.

The session hands out content in pieces (`MessageDataChunk`); a `Spool` passes
them through a small queue to `BlobStore.put_stream`, so a 50 MB message
never sits in memory and a slow blob store slows the client down instead of
growing a buffer. The trace headers of RFC 5321 section 4.4 go in front:
`Return-Path:` (we are the final delivery MTA for local recipients) and
`Received:`, with the protocol keywords of RFC 3848.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime

from libs.blobs import BlobRef, BlobStore
from services.smtp.protocol import Address

_END = b""
QUEUE_DEPTH = 8


class SpoolAborted(Exception):
    """The message was abandoned before its end; the partial blob is never named."""


def trace_headers(
    *,
    reverse_path: Address | None,
    helo: str | None,
    peer: str,
    hostname: str,
    protocol: str,
    session_id: str,
    recipient: str | None,
    now: datetime | None = None,
) -> bytes:
    """`Return-Path:` and `Received:` (RFC 5321 sections 4.4 and 4.1.1.1 grammar), CRLF-ended."""
    sender = "" if reverse_path is None else reverse_path.text
    when = format_datetime(now or datetime.now(UTC))
    received = f"Received: from {helo or 'unknown'} ([{peer}])\r\n\tby {hostname} with {protocol} id {session_id}"
    # "for" only with one recipient: naming several would reveal Bcc recipients.
    if recipient is not None:
        received += f"\r\n\tfor <{recipient}>"
    received += f";\r\n\t{when}\r\n"
    return f"Return-Path: <{sender}>\r\n{received}".encode()


def received_protocol(*, lmtp: bool, tls: bool, authenticated: bool) -> str:
    """RFC 3848 "with" keywords: ESMTP, ESMTPS (TLS), ESMTPA (AUTH), ESMTPSA, LMTP."""
    if lmtp:
        return "LMTP"
    return "ESMTP" + ("S" if tls else "") + ("A" if authenticated else "")


class Spool:
    """One message being written; `add()` each chunk, then `finish()` or `abort()`."""

    def __init__(self, blobs: BlobStore, head: bytes) -> None:
        self._queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue(QUEUE_DEPTH)
        self._head = head
        self._task = asyncio.create_task(blobs.put_stream(self._chunks()))

    async def _chunks(self) -> AsyncIterator[bytes]:
        yield self._head
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

    async def finish(self, timeout: float) -> BlobRef:
        """Close the stream and wait until the blob is durable."""
        if not self._task.done():
            await self._queue.put(_END)
        return await asyncio.wait_for(self._task, timeout)

    async def abort(self) -> None:
        if not self._task.done():
            try:
                self._queue.put_nowait(SpoolAborted())
            except asyncio.QueueFull:
                self._task.cancel()
        try:
            await self._task
        except (Exception, asyncio.CancelledError):
            pass
