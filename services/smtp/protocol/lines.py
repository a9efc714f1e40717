"""Cutting the command stream into lines: <CRLF> only, bounded, and bare newlines refused.

RFC 5321 section 2.3.8: lines end with <CRLF>, and a bare <CR> or <LF> must
not be sent. This reader is strict: a bare <LF> is *not* a line end, so
``RSET<LF>MAIL FROM:...`` can never be read as two commands. The moment a bare
<CR> or <LF> is seen the reader reports it and the session answers 550 5.5.2
and closes, as Postfix's ``smtpd_forbid_bare_newline = reject`` does; a client
that ends lines with <LF> alone gets an answer at once instead of a hang.

A line longer than the limit is never buffered whole: the reader drops what it
has, keeps dropping until the next <CRLF>, and then reports one ``TOO_LONG``
(so the overlong line gets exactly one reply, in order with the others).
"""

from __future__ import annotations

import enum

CRLF = b"\r\n"


class LineProblem(enum.Enum):
    TOO_LONG = "too long"
    BARE_NEWLINE = "bare newline"


class LineReader:
    def __init__(self) -> None:
        self._discarding = False

    def next_line(self, buffer: bytearray, *, limit: int) -> bytes | LineProblem | None:
        """Take one line (without <CRLF>) off ``buffer``; ``None`` when more bytes are needed.

        ``limit`` counts the <CRLF> (RFC 5321 section 4.5.3.1.4).
        """
        end = buffer.find(CRLF)
        if self._discarding:
            return self._discard(buffer, end)
        head = bytes(buffer if end < 0 else buffer[:end])
        if _has_bare_newline(head, complete=end >= 0):
            return LineProblem.BARE_NEWLINE
        if end < 0:
            if len(buffer) > limit:
                self._discarding = True
                return self._discard(buffer, end)
            return None
        del buffer[: end + 2]
        if end + 2 > limit:
            return LineProblem.TOO_LONG
        return head

    def _discard(self, buffer: bytearray, end: int) -> LineProblem | None:
        if _has_bare_newline(bytes(buffer if end < 0 else buffer[:end]), complete=end >= 0):
            return LineProblem.BARE_NEWLINE
        if end < 0:
            # Keep a trailing <CR>: it may be the first half of the <CRLF> we wait for.
            keep = 1 if buffer.endswith(b"\r") else 0
            del buffer[: len(buffer) - keep]
            return None
        del buffer[: end + 2]
        self._discarding = False
        return LineProblem.TOO_LONG


def _has_bare_newline(data: bytes, *, complete: bool) -> bool:
    """Whether ``data`` (text before the first <CRLF>, or all of it) holds a bare CR or LF.

    Before the first <CRLF> any <LF> is bare, and so is any <CR> except a final
    one of an incomplete buffer, which may still be followed by <LF>.
    """
    if b"\n" in data:
        return True
    carriage_return = data.find(b"\r")
    return carriage_return >= 0 and (complete or carriage_return < len(data) - 1)
