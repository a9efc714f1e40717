"""COMPRESS=DEFLATE (RFC 4978) as a `StreamFilter`: raw deflate both ways.

RFC 4978 section 4: the stream is raw deflate (RFC 1951, no zlib header or
checksum, hence wbits -15), and the server flushes at the end of every
response so the client can read it without waiting for more (a sync flush
per write here: a write is at most one response or a piece of one).

Decompression is bounded: one `decode` returns at most `max_output` octets and
keeps the rest of its input (`zlib`'s `unconsumed_tail`) until the connection
asks again with `decode(b"")`, which it does when its buffer is empty. A small
compressed input that would inflate to gigabytes (a zip bomb) therefore costs
at most `max_output` octets at a time, and the connection's own buffer limit
stops reading the socket meanwhile.
"""

from __future__ import annotations

import zlib

from libs.net.connection import READ_SIZE, StreamCorrupt


class Deflate:
    """Raw deflate on the stream above TLS; one per connection (both directions keep state)."""

    def __init__(self, *, level: int = 6, max_output: int = READ_SIZE) -> None:
        self._compress = zlib.compressobj(level, zlib.DEFLATED, -15)
        self._decompress = zlib.decompressobj(-15)
        self._max_output = max_output
        self._tail = b""

    @property
    def backlog(self) -> int:
        """Received compressed octets not yet decoded (held back by the output bound)."""
        return len(self._tail)

    def decode(self, data: bytes) -> bytes:
        pending = self._tail + data if self._tail else data
        if not pending:
            return b""
        try:
            out = self._decompress.decompress(pending, self._max_output)
        except zlib.error as exc:
            raise StreamCorrupt(f"deflate: {exc}") from None
        self._tail = self._decompress.unconsumed_tail
        return out

    def encode(self, data: bytes) -> bytes:
        return self._compress.compress(data) + self._compress.flush(zlib.Z_SYNC_FLUSH)
