"""What ``Session.next_event()`` returns: facts about the conversation, and questions.

A ``Question`` needs an answer before the session reads on: the caller answers
with ``Session.accept()``, ``Session.reply(...)`` (or the AUTH and LMTP
variants). Every other event is news; the reply it implies (if any) is already
queued in the session's output. ``NEED_DATA`` means: feed more bytes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from .addresses import Address
from .parameters import MailParameters, RcptParameters
from .replies import Reply


class NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA


@dataclass(frozen=True, slots=True)
class Recipient:
    """A recipient the caller accepted, with its RCPT parameters."""

    address: Address
    params: RcptParameters


@dataclass(frozen=True, slots=True)
class Envelope:
    """The transaction a message belongs to (RFC 5321 section 3.3)."""

    reverse_path: Address | None
    mail_params: MailParameters
    recipients: tuple[Recipient, ...]


class Event:
    """Base of every event."""

    __slots__ = ()


class Question(Event):
    """An event the caller must answer before ``next_event()`` may be called again."""

    __slots__ = ()


# --- questions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GreetingNeeded(Question):
    """The connection is open; ``accept()`` sends 220, a 554 or 421 reply refuses (RFC 5321 3.1)."""


@dataclass(frozen=True, slots=True)
class HeloReceived(Question):
    """HELO, EHLO or LHLO; ``accept()`` answers with our name (and extensions when ``extended``)."""

    name: str
    extended: bool


@dataclass(frozen=True, slots=True)
class MailFromReceived(Question):
    reverse_path: Address | None
    params: MailParameters


@dataclass(frozen=True, slots=True)
class RecipientReceived(Question):
    address: Address
    params: RcptParameters


@dataclass(frozen=True, slots=True)
class MessageComplete(Question):
    """The whole message arrived; answer with the final reply (LMTP: ``reply_each``)."""

    size: int
    envelope: Envelope
    via: Literal["DATA", "BDAT"]


@dataclass(frozen=True, slots=True)
class StartTlsRequested(Question):
    """``accept()`` sends 220; then run the TLS handshake and call ``start_tls()``."""


@dataclass(frozen=True, slots=True)
class AuthStarted(Question):
    """AUTH; ``initial_response`` is decoded (``b""`` for "="), ``None`` when absent."""

    mechanism: str
    initial_response: bytes | None


@dataclass(frozen=True, slots=True)
class AuthResponse(Question):
    """A decoded client response line within the SASL exchange."""

    mechanism: str
    data: bytes


# --- news -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataStarted(Event):
    """Message content follows (after 354, or with the first accepted BDAT chunk)."""

    via: Literal["DATA", "BDAT"]


@dataclass(frozen=True, slots=True)
class MessageDataChunk(Event):
    """A piece of message content, dot-unstuffed; their concatenation is the message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class MessageAborted(Event):
    """The message will not be delivered; drop what was stored. ``reply`` is (or will be) sent."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class AuthCancelled(Event):
    """The client answered "*"; 501 was sent (RFC 4954 section 4)."""

    mechanism: str


@dataclass(frozen=True, slots=True)
class ResetReceived(Event):
    """RSET: the transaction, if any, is gone (RFC 5321 section 4.1.1.5)."""


@dataclass(frozen=True, slots=True)
class QuitReceived(Event):
    """QUIT: 221 is queued; send it and close (RFC 5321 section 4.1.1.10)."""


@dataclass(frozen=True, slots=True)
class ProtocolError(Event):
    """The client broke a rule; ``reply`` is queued. ``verb`` is the command, if it was parsed."""

    reply: Reply
    verb: str | None = None


@dataclass(frozen=True, slots=True)
class SessionTerminated(Event):
    """The session is over for a reason other than QUIT; send the queued output, then close."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class ConnectionLost(Event):
    """The peer closed its side (``receive_data(b"")``); a message in progress is lost."""
