"""LOGIN and AUTHENTICATE (PLAIN, SCRAM-SHA-256) against the directory (`directory.rpc.auth`).

The directory keeps the credentials and checks them (protocol "imap",
through `libs.auth.directory_client`); PLAIN is decoded by `libs.auth.plain`
and SCRAM run by `libs.auth.scram_server.ScramExchange`, as smtp and pop3
do. This module only frames the steps of an AUTHENTICATE exchange (RFC 9051
section 6.2.2) and names the IMAP response of each outcome. The password
never reaches a log line.

SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding:

    C: n,,n=user,r=<client nonce>                     S: + r=<nonce>,s=<salt>,i=<n>
    C: c=biws,r=<nonce>,p=<proof>                     S: + v=<server signature>
    C: (empty)                                        S: tag OK
"""

from __future__ import annotations

from libs.auth.directory_client import AuthOutcome, AuthProblem, DirectoryAuth
from libs.auth.plain import decode_plain
from libs.auth.scram_server import Challenge, ScramExchange
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
        self._scram: ScramExchange | None = None

    async def step(self, session: Session, mechanism: str, data: bytes | None, *, first: bool) -> bytes | AuthOutcome:
        try:
            if mechanism == "PLAIN":
                if data is None:
                    return session.auth_challenge(b"")  # RFC 4959: no initial response, ask for it
                credentials = decode_plain(data)
                if credentials.acts_for_another:
                    return session.no("Acting for another user is not supported", code("AUTHORIZATIONFAILED"))
                return await self.login.authenticate(
                    credentials.username, credentials.password, client_address=self.client_address
                )
            return await self._scram_step(session, data, first=first)
        except (ValueError, UnicodeDecodeError):  # ScramError is a ValueError
            self._scram = None
            return session.bad("Malformed SASL message")

    async def _scram_step(self, session: Session, data: bytes | None, *, first: bool) -> bytes | AuthOutcome:
        if first or self._scram is None:
            self._scram = ScramExchange(self.login, client_address=self.client_address)
        step = await self._scram.step(data)
        if isinstance(step, Challenge):
            return session.auth_challenge(step.data)
        self._scram = None
        return step
