"""Cutting a TCP/TLS byte stream into SIP messages (RFC 3261 section 18.3, RFC 5626 section 4.4.1).

How it works: the transport calls ``receive_data(chunk)`` and then takes
events from ``next_event()`` until ``NEED_DATA``. Between messages:

- CRLF CRLF is a keep-alive ping (RFC 5626 section 4.4.1): ``KeepAlivePing``,
  and the transport answers with ``PONG`` (one CRLF).
- a single CRLF is a pong (the answer to our ping) or the CRLF RFC 3261
  section 7.5 says to ignore before a start line: ``KeepAlivePong``. It is
  reported once the next octet shows it is not the first half of a ping
  (or at the end of the stream), so a ping split across reads is still one.

A message ends Content-Length octets after the empty line; the framer reads
only that field (full or compact ``l``) before handing out the octets as
``MessageFramed`` -- the transport parses them with ``parse_message``, which
reports errors that a reply can follow. A message without Content-Length
has an empty body (the field is mandatory over streams, section 18.3; reading
its absence as 0 keeps the stream in step with the common sender bug of
omitting it on empty messages).

The stream cannot be resynchronised after a broken or negative
Content-Length (RFC 4475 ncl), several of them (mcl01), or a message larger
than ``max_message_size``: ``FramingFailed`` carries a ``ParseError`` with
``close_connection`` set (and a reply context when the head was readable), and
the framer accepts no more data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ParseError
from .limits import Limits
from .parser import _HEAD_END_RE, DEFAULT_LIMITS, _attach_reply_context

#: What the transport writes to answer a ping (RFC 5626 section 4.4.1).
PONG = b"\r\n"
PING = b"\r\n\r\n"

_CONTENT_LENGTH_RE = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$", re.I | re.M)


@dataclass(frozen=True, slots=True)
class MessageFramed:
    data: bytes


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """The peer sent CRLF CRLF; write ``PONG``."""


@dataclass(frozen=True, slots=True)
class KeepAlivePong:
    """The peer sent a single CRLF (the answer to our ping)."""


@dataclass(frozen=True, slots=True)
class FramingFailed:
    """The stream is broken; answer ``error`` if it can be answered, then close."""

    error: ParseError


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()
FramingEvent = MessageFramed | KeepAlivePing | KeepAlivePong | FramingFailed


class StreamFramer:
    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._buffer = bytearray()
        self._failed = False
        self._closed = False
        self._scanned = 0  # where the search for the end of the head resumes
        self._pending: int | None = None  # length of the message being received, once its head is in

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        """Add received octets; ``b""`` means the peer closed the stream."""
        if self._failed:
            return
        if not data:
            self._closed = True
            return
        self._buffer += data

    def next_event(self) -> FramingEvent | _NeedData:
        if self._failed:
            return NEED_DATA
        buffer = self._buffer
        if self._pending is None:
            if buffer.startswith(b"\r\n"):
                if buffer.startswith(PING):
                    del buffer[:4]
                    return KeepAlivePing()
                if len(buffer) < 4 and PING.startswith(buffer) and not self._closed:
                    return NEED_DATA  # maybe the first half of a ping: wait and see
                del buffer[:2]
                return KeepAlivePong()
            if buffer.startswith(b"\n"):
                del buffer[:1]
                return KeepAlivePong()
            # Search only what arrived since the last look (a slow sender costs linear time).
            match = _HEAD_END_RE.search(buffer, self._scanned)
            if match is None:
                self._scanned = max(0, len(buffer) - 3)
                if len(buffer) > self.limits.max_message_size:
                    return self._fail(ParseError("Message Too Large", status=513))
                return NEED_DATA
            lengths = _CONTENT_LENGTH_RE.findall(bytes(buffer[: match.start()]))
            if len(lengths) > 1:
                return self._fail(ParseError("More than one Content-Length header field"))
            length = 0
            if lengths:
                value = lengths[0]
                if not value.isdigit() or len(value) > 10:
                    return self._fail(ParseError("Bad Content-Length"))
                length = int(value)
            self._pending = match.end() + length
            if self._pending > self.limits.max_message_size:
                return self._fail(ParseError("Message Too Large", status=513))
        if len(buffer) < self._pending:
            return NEED_DATA
        data = bytes(buffer[: self._pending])
        del buffer[: self._pending]
        self._pending = None
        self._scanned = 0
        return MessageFramed(data)

    def _fail(self, error: ParseError) -> FramingFailed:
        error.close_connection = True
        _attach_reply_context(error, bytes(self._buffer[: self.limits.max_message_size]), self.limits)
        self._failed = True
        self._buffer.clear()
        return FramingFailed(error)
