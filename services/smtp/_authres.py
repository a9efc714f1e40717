"""The Authentication-Results header (RFC 8601): writing ours, removing forged ones.

We write one field, `Authentication-Results: <authserv-id>; spf=...; dkim=...`,
whose authserv-id is our host name (`PARLEY_SMTP_HOSTNAME`).

RFC 8601 section 5: a field that claims our authserv-id but came from outside
must not reach the reader, who would trust it. `ForeignResultsFilter` removes
every such field from the header section of incoming content as it streams
by; fields naming other authserv-ids are left alone (they are not ours and
readers must not trust them either). The header section is processed one
field at a time: an ordinary field passes line by line, an
Authentication-Results field is held until it ends (its authserv-id may be
on a continuation line), at most `MAX_HELD_FIELD` bytes; a longer one is
dropped whole. After the blank line the body passes untouched.
"""

from __future__ import annotations

import re

MAX_HELD_FIELD = 64 * 1024
_AR_NAME = re.compile(rb"^authentication-results[ \t]*:", re.IGNORECASE)
_COMMENT = re.compile(rb"\((?:[^()\\]|\\.)*\)")


def authentication_results(authserv_id: str, clauses: list[str]) -> bytes:
    """Our field, folded one result per line; `none` when nothing was checked (RFC 8601 2.2)."""
    body = ";\r\n\t".join([authserv_id, *clauses]) if clauses else f"{authserv_id}; none"
    return f"Authentication-Results: {body}\r\n".encode()


def claimed_authserv_id(field: bytes) -> str:
    """The authserv-id of an Authentication-Results field (name included), lower case; '' if none."""
    value = field.split(b":", 1)[1] if b":" in field else b""
    for _ in range(4):  # comments may nest; a few rounds remove what real headers use
        value = _COMMENT.sub(b" ", value)
    token = value.split(b";", 1)[0].split()
    return token[0].decode("ascii", "replace").strip('"').lower().rstrip(".") if token else ""


class ForeignResultsFilter:
    """Feed the message content in pieces; get it back without fields claiming `authserv_id`."""

    def __init__(self, authserv_id: str) -> None:
        self.authserv_id = authserv_id.lower().rstrip(".")
        self.removed = 0
        self._in_body = False
        self._partial = b""  # an unfinished line
        self._held: list[bytes] | None = None  # lines of an Authentication-Results field
        self._held_size = 0
        self._dropping = False  # continuation lines of an over-long field being dropped

    def feed(self, data: bytes) -> bytes:
        if self._in_body:
            return data
        out: list[bytes] = []
        data = self._partial + data
        self._partial = b""
        start = 0
        while not self._in_body:
            end = data.find(b"\n", start)
            if end < 0:
                self._partial = data[start:]
                break
            self._line(data[start : end + 1], out)
            start = end + 1
        if self._in_body:
            out.append(data[start:])
        elif len(self._partial) > MAX_HELD_FIELD:  # no line end for that long: not a header section
            out.append(self._release())
            out.append(self._partial)
            self._partial = b""
            self._in_body = True
        return b"".join(out)

    def flush(self) -> bytes:
        """The end of the content: whatever is still held goes out (or is dropped, if ours)."""
        out: list[bytes] = []
        if self._held is not None:
            out.append(self._end_field())
        out.append(self._partial)
        self._partial = b""
        self._in_body = True
        return b"".join(out)

    def _line(self, line: bytes, out: list[bytes]) -> None:
        continuation = line[:1] in (b" ", b"\t")
        if continuation and self._dropping:
            return
        if continuation and self._held is not None:
            self._held.append(line)
            self._held_size += len(line)
            if self._held_size > MAX_HELD_FIELD:
                self._held, self._held_size, self._dropping = None, 0, True
                self.removed += 1
            return
        self._dropping = False
        if self._held is not None:
            out.append(self._end_field())
        if line in (b"\r\n", b"\n"):
            out.append(line)
            self._in_body = True
        elif _AR_NAME.match(line):
            self._held, self._held_size = [line], len(line)
        else:
            out.append(line)

    def _end_field(self) -> bytes:
        field = b"".join(self._held or [])
        self._held, self._held_size = None, 0
        if claimed_authserv_id(field) == self.authserv_id:
            self.removed += 1
            return b""
        return field

    def _release(self) -> bytes:
        return self._end_field() if self._held is not None else b""
