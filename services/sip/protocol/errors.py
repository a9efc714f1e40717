"""The two ways a SIP exchange goes wrong: our misuse, or the peer's.

As in h11 and the other cores: ``LocalProtocolError`` means the code driving
the core broke a rule (a bug to fix); ``RemoteProtocolError`` means the peer
did. A message that does not parse raises ``ParseError``, which carries what a
transport needs to answer it: the status (400, 505, 513), a reason phrase, and
-- when the request line and the Via header field were readable -- a
``ReplyContext`` with the header fields a response must copy (RFC 3261 section
8.2.6.2). Without one the message is dropped silently (responses always are:
RFC 3261 section 18.1.2 has no way to answer a response).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .via import Via


class LocalProtocolError(Exception):
    """The caller used the core wrongly (a response in the wrong state, a bad value)."""


class RemoteProtocolError(Exception):
    """The peer sent something SIP does not allow."""


class GrammarError(ValueError):
    """A value does not match the RFC 3261 grammar; ``reason`` names what is wrong.

    Raised by the value parsers (URIs, addresses, Via ...); the message parser
    turns it into a ``ParseError`` that knows whether a reply can be sent.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What a stateless error response to an unparsable request needs.

    ``headers`` are the received (name, value) pairs of Via, From, To, Call-ID
    and CSeq, in order, to be copied into the response (RFC 3261 section
    8.2.6.2); ``top_via`` is the topmost Via, read leniently, so the transport
    can find where the response goes (RFC 3261 section 18.2.2, RFC 3581).
    """

    method: str
    headers: tuple[tuple[str, str], ...]
    top_via: Via


class ParseError(RemoteProtocolError):
    """A message that cannot be processed.

    ``status`` is the response code to send (400, 505 Version Not Supported,
    513 Message Too Large); ``reason`` the reason phrase; ``reply`` is set when
    the message was a request whose request line and top Via were readable, so
    a response can be sent (``builders.error_response``); otherwise the
    message must be dropped. ``close_connection`` is set by the stream framer
    when the byte stream cannot be resynchronised (a Content-Length that is
    missing its digits, negative, or too large).
    """

    def __init__(self, reason: str, *, status: int = 400, header: str | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.reason = reason
        self.status = status
        self.header = header
        self.reply: ReplyContext | None = None
        self.close_connection = False

    @property
    def can_reply(self) -> bool:
        return self.reply is not None and self.reply.method != "ACK"
