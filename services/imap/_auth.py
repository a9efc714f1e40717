"""LOGIN and AUTHENTICATE (PLAIN, SCRAM-SHA-256) against the directory (`directory.rpc.auth`).

The directory keeps the credentials and checks them (protocol "imap",
through `libs.auth.directory_client`); the SASL messages are parsed by
`libs.auth.plain` and `libs.auth.scram_server`, as smtp and pop3 do. This
module only runs the steps of an AUTHENTICATE exchange (RFC 9051 section
6.2.2) and names the IMAP response of each outcome. The password never
reaches a log line.

SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding:

    C: n,,n=user,r=<client nonce>                     S: + r=<nonce>,s=<salt>,i=<n>
    C: c=biws,r=<nonce>,p=<proof>                     S: + v=<server signature>
    C: (empty)                                        S: tag OK
"""

from __future__ import annotations

from libs.auth import scram_server
from libs.auth.directory_client import AuthOutcome, AuthProblem, DirectoryAuth
from libs.auth.plain import decode_plain
from libs.bus import Bus
from services.imap.protocol import ResponseCode, Session
from services.imap.protocol.responses import code

MECHANISMS = ("PLAIN", "SCRAM-SHA-256")
PROTOCOL = "imap"


def directory_login(bus: Bus) -> DirectoryAuth:
    return DirectoryAuth(bus, protocol=PROTOCOL)


def refusal(outcome: AuthOutcome) -> tuple[str, ResponseCode]:
    """The tagged NO of a failed login (RFC 5530 codes)."""
    if outcome.problem is AuthProblem.UNAVAILABLE:
        return "Authentication temporarily unavailable", code("UNAVAILABLE")
    if outcome.problem is AuthProblem.THROTTLED:
        return "Too many failures, try again later", code("UNAVAILABLE")
    return "Invalid credentials", code("AUTHENTICATIONFAILED")


class SaslExchange:
    """The steps of one AUTHENTICATE: challenges, then an `AuthOutcome`.

    `step()` answers bytes to send (a challenge, or the refusal of a malformed
    message) while the exchange goes on, and an `AuthOutcome` once the
    directory has decided; the transport completes the login with it.
    """

    def __init__(self, login: DirectoryAuth, *, client_address: str | None) -> None:
        self.login = login
        self.client_address = client_address
        self._client_first: scram_server.ClientFirst | None = None
        self._server_first = ""
        self._account: str | None = None  # proof accepted, waiting for the client's empty response

    async def step(self, session: Session, mechanism: str, data: bytes | None, *, first: bool) -> bytes | AuthOutcome:
        try:
            if mechanism == "PLAIN":
                if data is None:
                    return session.auth_challenge(b"")  # RFC 4959: no initial response, ask for it
                credentials = decode_plain(data)
                if credentials.authorization_id and credentials.authorization_id != credentials.username:
                    return session.no("Acting for another user is not supported", code("AUTHORIZATIONFAILED"))
                return await self.login.authenticate(
                    credentials.username, credentials.password, client_address=self.client_address
                )
            return await self._scram_step(session, data, first=first)
        except (ValueError, UnicodeDecodeError):  # ScramError is a ValueError
            self._client_first = None
            self._account = None
            return session.bad("Malformed SASL message")

    async def _scram_step(self, session: Session, data: bytes | None, *, first: bool) -> bytes | AuthOutcome:
        if first:
            self._client_first, self._account = None, None
            if not data:
                return session.auth_challenge(b"")
        if self._account is not None:
            # The client's (empty) answer to our server-final message completes the exchange.
            account, self._account = self._account, None
            if data:
                raise scram_server.ScramError("expected an empty response")
            return AuthOutcome(account)
        client = self._client_first
        if client is None:
            client = scram_server.parse_client_first(data or b"")
            params = await self.login.scram_params(client.username)
            if params is None:
                return AuthOutcome(None, AuthProblem.UNAVAILABLE)
            self._client_first = client
            self._server_first = scram_server.server_first(client, salt=params[0], iterations=params[1])
            return session.auth_challenge(self._server_first.encode())
        self._client_first = None
        nonce = self._server_first.split(",", 1)[0][2:]
        final = scram_server.parse_client_final(data or b"", expected_nonce=nonce, gs2_header=client.gs2_header)
        auth_message = f"{client.bare},{self._server_first},{final.without_proof}"
        outcome = await self.login.authenticate_scram(
            client.username, auth_message, final.proof, client_address=self.client_address
        )
        if not outcome.ok or not outcome.signature:
            return AuthOutcome(None, outcome.problem or AuthProblem.INVALID)
        self._account = outcome.account
        return session.auth_challenge(f"v={outcome.signature}".encode())
