"""The two ways an IMAP exchange goes wrong: our misuse, or the peer's.

As in h11 and the SMTP core: ``LocalProtocolError`` means the code driving the
session broke a rule (a bug to fix); ``RemoteProtocolError`` means the client
did, and carries the tagged status it gets (``BAD`` for syntax, ``NO`` for a
refusal). The session catches ``RemoteProtocolError`` itself, so callers only
ever see ``LocalProtocolError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .responses import ResponseCode


class LocalProtocolError(Exception):
    """The caller used the session wrongly (answered twice, no command pending, bad value)."""


class RemoteProtocolError(Exception):
    """The client sent something the protocol does not allow.

    ``status`` is ``"BAD"`` (syntax, wrong state) or ``"NO"`` (refusal);
    ``code`` is an optional response code (``TOOBIG``, ``CLIENTBUG`` ...).
    """

    def __init__(self, text: str, *, status: str = "BAD", code: ResponseCode | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.status = status
        self.code = code


class ParseError(RemoteProtocolError):
    """The command does not match the grammar (RFC 9051 section 9); always ``BAD``."""

    def __init__(self, text: str, *, code: ResponseCode | None = None) -> None:
        super().__init__(text, status="BAD", code=code)
