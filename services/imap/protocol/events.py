"""What ``Session.next_event()`` returns: facts about the conversation, and questions.

A ``Question`` needs an answer before the session reads on. ``CommandReceived``
is answered by ``untagged(...)`` (any number of times) and then one tagged
completion (``ok``/``no``/``bad``, ``login_succeeded`` or ``auth_challenge``);
``AuthResponse`` the same way; ``GreetingNeeded`` by ``accept()``,
``preauthenticated()`` or ``bye()``. Every other event is news: the response
it implies (if any) is already queued. ``NEED_DATA`` means: feed more bytes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .commands import Command, Idle
from .responses import StatusResponse


class NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA


class Event:
    __slots__ = ()


class Question(Event):
    """An event the caller must answer before the session goes on reading commands."""

    __slots__ = ()


# --- questions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GreetingNeeded(Question):
    """The connection is open: ``accept()`` (``* OK``), ``preauthenticated(identity)`` or ``bye(text)``."""


@dataclass(frozen=True, slots=True)
class CommandReceived(Question):
    """A command for the service layer, already checked for syntax and state.

    For ``Idle`` the ``+ idling`` continuation is already sent; push updates with
    ``untagged()`` and complete with ``ok()`` after ``IdleDone``.
    """

    command: Command

    @property
    def tag(self) -> str:
        return self.command.tag


@dataclass(frozen=True, slots=True)
class AuthResponse(Question):
    """A client's SASL response line during AUTHENTICATE, base64-decoded (RFC 9051 section 6.2.2)."""

    tag: str
    mechanism: str
    data: bytes


# --- news -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppendDataStarted(Event):
    """Message data of APPEND begins: ``size`` octets follow as ``AppendDataChunk``s."""

    tag: str | None
    index: int
    size: int
    #: Sent as literal8 (``~{n}``, RFC 3516 section 4.4): may contain NUL.
    binary: bool


@dataclass(frozen=True, slots=True)
class AppendDataChunk(Event):
    tag: str | None
    index: int
    data: bytes


@dataclass(frozen=True, slots=True)
class AppendDataEnded(Event):
    tag: str | None
    index: int


@dataclass(frozen=True, slots=True)
class AppendAborted(Event):
    """Message data already handed out belongs to a command that failed: drop it."""

    tag: str | None


@dataclass(frozen=True, slots=True)
class IdleDone(Event):
    """The client ended IDLE with DONE: complete the IDLE command with ``ok()``.

    ``cancelled``: the client sent something else; the core has already answered
    ``BAD`` and the IDLE command is over (RFC 2177 section 3).
    """

    command: Idle
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class AuthCancelled(Event):
    """The client answered ``*``; the core sent ``BAD`` (RFC 9051 section 6.2.2)."""

    tag: str
    mechanism: str


@dataclass(frozen=True, slots=True)
class ExtensionsEnabled(Event):
    """ENABLE (RFC 5161) turned these on; ``* ENABLED`` and ``OK`` are queued."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IdReceived(Event):
    """RFC 2971: the client said who it is; our ``* ID`` and ``OK`` are queued."""

    params: tuple[tuple[str, str | None], ...] | None


@dataclass(frozen=True, slots=True)
class StartTlsRequested(Event):
    """STARTTLS was accepted (``OK`` queued): send it, run the handshake, call ``start_tls()``."""


@dataclass(frozen=True, slots=True)
class CompressionRequested(Event):
    """COMPRESS DEFLATE was accepted (``OK`` queued): send it, then call ``start_compression()``."""

    mechanism: str


@dataclass(frozen=True, slots=True)
class ProtocolError(Event):
    """The core refused something itself; ``response`` is queued. ``command`` is its name if known."""

    response: StatusResponse
    command: str | None = None


@dataclass(frozen=True, slots=True)
class LogoutReceived(Event):
    """LOGOUT: ``* BYE`` and ``OK`` are queued; send them and close (RFC 9051 section 6.1.3)."""


@dataclass(frozen=True, slots=True)
class SessionClosed(Event):
    """The core ended the session (``* BYE`` queued, e.g. too many errors); send, then close."""

    response: StatusResponse


@dataclass(frozen=True, slots=True)
class ConnectionLost(Event):
    """The peer closed its side (``receive_data(b"")``); a command in progress is lost."""
