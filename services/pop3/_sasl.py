"""The SASL mechanisms of POP3 AUTH (RFC 5034): PLAIN and SCRAM-SHA-256.

The session decodes the client's lines; this module knows what each
mechanism's steps mean and asks the directory (libs.auth.directory_client).
A step ends in a `Challenge` to send, or an `AuthOutcome`: success (the
transport then locks and lists the maildrop) or a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.auth import scram_server
from libs.auth.directory_client import AuthOutcome, AuthProblem, DirectoryAuth
from libs.auth.plain import decode_plain
from services.pop3.protocol import AuthResponse, AuthStarted

MECHANISMS = (scram_server.MECHANISM, "PLAIN")


@dataclass(frozen=True)
class Challenge:
    data: bytes


MALFORMED = AuthOutcome(None, AuthProblem.INVALID)


class SaslExchange:
    """The state of one AUTH exchange (SCRAM keeps its first messages between steps)."""

    def __init__(self, directory: DirectoryAuth, *, client_address: str | None) -> None:
        self.directory = directory
        self.client_address = client_address
        self._scram: tuple[scram_server.ClientFirst, str] | None = None
        self._scram_account: str | None = None

    async def step(self, event: AuthStarted | AuthResponse) -> Challenge | AuthOutcome:
        if isinstance(event, AuthStarted):
            self._scram = None
            self._scram_account = None
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
        if credentials.authorization_id and credentials.authorization_id != credentials.username:
            return MALFORMED  # acting for someone else (RFC 4616 authzid) is not supported
        return await self.directory.authenticate(
            credentials.username, credentials.password, client_address=self.client_address
        )

    async def _scram_step(self, data: bytes | None) -> Challenge | AuthOutcome:
        try:
            if self._scram_account is not None:
                # The client's empty answer to our server-final message completes it.
                account, self._scram_account = self._scram_account, None
                return AuthOutcome(account) if not data else MALFORMED
            if self._scram is None:
                if not data:
                    return Challenge(b"")
                client = scram_server.parse_client_first(data)
                params = await self.directory.scram_params(client.username)
                if params is None:
                    return AuthOutcome(None, AuthProblem.UNAVAILABLE)
                salt, iterations = params
                server_first = scram_server.server_first(client, salt=salt, iterations=iterations)
                self._scram = (client, server_first)
                return Challenge(server_first.encode())
            (client, server_first), self._scram = self._scram, None
            nonce = server_first.split(",", 1)[0][2:]
            final = scram_server.parse_client_final(data or b"", expected_nonce=nonce, gs2_header=client.gs2_header)
            auth_message = f"{client.bare},{server_first},{final.without_proof}"
            outcome = await self.directory.authenticate_scram(
                client.username, auth_message, final.proof, client_address=self.client_address
            )
            if outcome.account is None or not outcome.signature:
                return outcome if outcome.problem else MALFORMED
            self._scram_account = outcome.account
            return Challenge(f"v={outcome.signature}".encode())
        except (scram_server.ScramError, UnicodeDecodeError):
            self._scram = None
            return MALFORMED
