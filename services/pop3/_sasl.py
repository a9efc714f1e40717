"""The SASL mechanisms of POP3 AUTH (RFC 5034): PLAIN and SCRAM-SHA-256.

The session decodes the client's lines; this module knows what each
mechanism's steps mean and asks the directory (libs.auth.directory_client).
A step ends in a `Challenge` to send, or an `AuthOutcome`: success (the
transport then locks and lists the maildrop) or a refusal.
"""

from __future__ import annotations

from libs.auth import scram_server
from libs.auth.directory_client import AuthOutcome, AuthProblem, DirectoryAuth
from libs.auth.plain import decode_plain
from libs.auth.scram_server import Challenge, ScramExchange
from services.pop3.protocol import AuthResponse, AuthStarted

__all__ = ["MECHANISMS", "Challenge", "SaslExchange"]

MECHANISMS = (scram_server.MECHANISM, "PLAIN")

MALFORMED = AuthOutcome(None, AuthProblem.INVALID)


class SaslExchange:
    """The state of one AUTH exchange (SCRAM keeps its first messages between steps)."""

    def __init__(self, directory: DirectoryAuth, *, client_address: str | None) -> None:
        self.directory = directory
        self.client_address = client_address
        self._scram: ScramExchange | None = None

    async def step(self, event: AuthStarted | AuthResponse) -> Challenge | AuthOutcome:
        if isinstance(event, AuthStarted):
            self._scram = ScramExchange(self.directory, client_address=self.client_address)
            data = event.initial_response
        else:
            data = event.data
        if event.mechanism == "PLAIN":
            if data is None:
                return Challenge(b"")  # RFC 5034 section 4: ask for the initial response
            return await self._plain(data)
        if event.mechanism == scram_server.MECHANISM:
            return await self._scram_step(data)
        return MALFORMED

    async def _plain(self, data: bytes) -> AuthOutcome:
        try:
            credentials = decode_plain(data)
        except (ValueError, UnicodeDecodeError):
            return MALFORMED
        if credentials.acts_for_another:
            return MALFORMED  # acting for someone else (RFC 4616 authzid) is not supported
        return await self.directory.authenticate(
            credentials.username, credentials.password, client_address=self.client_address
        )

    async def _scram_step(self, data: bytes | None) -> Challenge | AuthOutcome:
        if self._scram is None:  # an AUTH exchange always starts with AuthStarted
            return MALFORMED
        try:
            step = await self._scram.step(data)
        except (scram_server.ScramError, UnicodeDecodeError):
            self._scram = None
            return MALFORMED
        if not isinstance(step, Challenge):
            self._scram = None
        return step
