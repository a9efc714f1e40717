"""Line framing with bounded memory.

A line ends at LF; a CR right before it is part of the line end (RFC 1939
asks for CRLF, and some clients send bare LF; POP3 carries no client data
after a command, so there is nothing to smuggle). A line longer than the
limit is never buffered whole: its bytes are dropped as they arrive and the
reader reports it once, at its end, as `TOO_LONG`.
"""

from __future__ import annotations

from typing import Final


class _TooLong:
    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = _TooLong()


class LineReader:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def clear(self) -> int:
        """Drop everything buffered (STLS: plaintext sent after the command); return how much."""
        dropped = len(self._buffer)
        self._buffer.clear()
        self._discarding = False
        return dropped

    def next_line(self, limit: int) -> bytes | _TooLong | None:
        """The next line without its end, TOO_LONG for an overlong one, None if incomplete.

        `limit` counts the line with its CRLF (RFC 2449 section 4). The buffer
        never holds more than `limit` bytes of an unfinished line.
        """
        while True:
            if self._discarding:
                end = self._buffer.find(b"\n")
                if end < 0:
                    self._buffer.clear()
                    return None
                del self._buffer[: end + 1]
                self._discarding = False
                return TOO_LONG
            end = self._buffer.find(b"\n", 0, limit)
            if end < 0:
                if len(self._buffer) >= limit:
                    # No LF within the limit: the line is too long whatever follows.
                    self._discarding = True
                    continue
                return None
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            return line[:-1] if line.endswith(b"\r") else line
