"""Turning a stored message into the body of a RETR or TOP reply, chunk by chunk.

RFC 1939 section 3: every line ends in CRLF, a line starting with "." gets
another "." in front (byte-stuffing), and ".\r\n" on a line of its own ends
the reply. Stored messages should already have CRLF; bare CR or LF are sent
as CRLF, so no client ever sees a line end the protocol does not allow.
TOP (section 7) sends the header, the empty line, and then at most `lines`
lines of the body.

Memory stays bounded by one input chunk whatever the message's size (a
message that is one long line is no different): `feed` returns the bytes to
write for each chunk, `done` says when TOP has enough, and `finish` returns
the end of the reply.
"""

from __future__ import annotations

import re

_BREAK = re.compile(rb"\r\n|\r|\n")
TERMINATOR = b".\r\n"


class MessageEncoder:
    def __init__(self, *, body_lines: int | None = None) -> None:
        self._body_lines = body_lines  # None: the whole message (RETR)
        self._at_line_start = True
        self._line_length = 0
        self._in_header = True
        self._swallow_lf = False  # the last chunk ended in CR: an LF now is the same line end
        self.done = body_lines is not None and body_lines < 0

    def feed(self, data: bytes) -> bytes:
        if self.done or not data:
            return b""
        out = bytearray()
        position = 0
        if self._swallow_lf:
            self._swallow_lf = False
            if data[:1] == b"\n":
                position = 1
        for match in _BREAK.finditer(data, position):
            self._text(out, data, position, match.start())
            out += b"\r\n"
            position = match.end()
            if match.group() == b"\r" and position == len(data):
                self._swallow_lf = True
            if self._end_line():
                self.done = True
                return bytes(out)
        self._text(out, data, position, len(data))
        return bytes(out)

    def finish(self) -> bytes:
        """The end of the reply: a CRLF if the content did not end with one, then "."."""
        return TERMINATOR if self._at_line_start else b"\r\n" + TERMINATOR

    def _text(self, out: bytearray, data: bytes, start: int, end: int) -> None:
        if start == end:
            return
        if self._at_line_start and data[start] == 0x2E:  # "."
            out += b"."
        out += data[start:end]
        self._at_line_start = False
        self._line_length += end - start

    def _end_line(self) -> bool:
        """A line ended; True when TOP has sent everything it should."""
        empty = self._line_length == 0
        self._at_line_start = True
        self._line_length = 0
        if self._body_lines is None:
            return False
        if self._in_header:
            if empty:
                self._in_header = False
                return self._body_lines == 0
            return False
        self._body_lines -= 1
        return self._body_lines <= 0


def encode_message(data: bytes, *, body_lines: int | None = None) -> bytes:
    """The whole reply body for `data` at once (tests, small messages)."""
    encoder = MessageEncoder(body_lines=body_lines)
    return encoder.feed(data) + encoder.finish()
