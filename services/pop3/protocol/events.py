"""What a session hands its caller: questions that need an answer, and news.

Questions (the session reads nothing more until the caller answers):
`PasswordReceived`, `AuthStarted`, `AuthResponse` (answer with
`login_succeeded`, `login_failed` or `auth_challenge`), `StartTlsRequested`
(`accept_stls`, then the handshake, then `start_tls`), `MessageRequested`
(`send_message` and stream the content, or `message_failed`) and
`UpdateRequested` (`update_done` or `update_failed`).

News (the reply, if any, is already queued): `QuitReceived`,
`ProtocolError`, `SessionTerminated`, `ConnectionLost`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .maildrop import MaildropMessage
from .replies import Reply


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


class Event:
    """Base of everything `next_event` returns (besides NEED_DATA)."""


class Question(Event):
    """An event the caller must answer before the session goes on."""


@dataclass(frozen=True, slots=True)
class PasswordReceived(Question):
    """USER then PASS (RFC 1939 section 7). Never log `password`."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"PasswordReceived(username={self.username!r}, password=<hidden>)"


@dataclass(frozen=True, slots=True)
class AuthStarted(Question):
    """AUTH (RFC 5034); `initial_response` is None when the client sent none."""

    mechanism: str
    initial_response: bytes | None

    def __repr__(self) -> str:
        return f"AuthStarted(mechanism={self.mechanism!r})"


@dataclass(frozen=True, slots=True)
class AuthResponse(Question):
    """A client's line in the SASL exchange, base64-decoded."""

    mechanism: str
    data: bytes

    def __repr__(self) -> str:
        return f"AuthResponse(mechanism={self.mechanism!r})"


@dataclass(frozen=True, slots=True)
class StartTlsRequested(Question):
    """STLS (RFC 2595 section 4)."""


@dataclass(frozen=True, slots=True)
class MessageRequested(Question):
    """RETR (`lines` None) or TOP (`lines` body lines after the header)."""

    number: int
    message: MaildropMessage
    lines: int | None = None


@dataclass(frozen=True, slots=True)
class UpdateRequested(Question):
    """QUIT in TRANSACTION: remove `deleted` (and only those); `retrieved` were sent whole."""

    deleted: tuple[MaildropMessage, ...]
    retrieved: tuple[MaildropMessage, ...]


@dataclass(frozen=True, slots=True)
class QuitReceived(Event):
    """QUIT in AUTHORIZATION: the goodbye is queued; close after writing it."""


@dataclass(frozen=True, slots=True)
class ProtocolError(Event):
    """The client made a mistake; `reply` is queued. Counted toward `max_errors`."""

    reply: Reply
    verb: str | None = None


@dataclass(frozen=True, slots=True)
class SessionTerminated(Event):
    """The session ends (too many errors or failed logins); `reply` is queued. Close after writing."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class ConnectionLost(Event):
    """The client closed its side (`receive_data(b"")`) without QUIT: no UPDATE."""
