"""LOGIN and AUTHENTICATE (PLAIN, SCRAM-SHA-256) against the directory (`directory.rpc.auth`).

The directory keeps the credentials and checks them (protocol "imap"); this
module only parses the SASL messages. It is deliberately small: the SMTP
service has the same exchange (services/smtp/_auth.py, _scram.py) and the
two are to be folded into libs/auth. The password never reaches a log line.

SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding:

    C: n,,n=user,r=<client nonce>                     S: + r=<nonce>,s=<salt>,i=<n>
    C: c=biws,r=<nonce>,p=<proof>                     S: + v=<server signature>
    C: (empty)                                        S: tag OK
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from libs.bus import Bus
from libs.contracts import directory
from libs.contracts.errors import ServiceError
from libs.log import get_logger
from services.imap.protocol import Session
from services.imap.protocol.responses import code

MECHANISMS = ("PLAIN", "SCRAM-SHA-256")
_log = get_logger()


@dataclass(frozen=True)
class Verdict:
    account: str | None
    #: "failed" (wrong credentials), "unavailable" (directory down), "throttled".
    reason: str = "failed"
    signature: str | None = None


class SaslError(ValueError):
    """The client's SASL message is malformed."""


class DirectoryLogin:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def password(self, username: str, password: str, *, client_address: str | None) -> Verdict:
        if not username or not password:
            return Verdict(None)
        request = directory.AuthRequest(
            mechanism=directory.Mechanism.PLAIN, username=username[:512], password=password[:1024],
            client_address=client_address, protocol="imap",
        )  # fmt: skip
        return await self._ask(request)

    async def scram_params(self, username: str) -> tuple[str, int] | None:
        try:
            answer = await self.bus.request(
                directory.RPC_SCRAM_PARAMS, directory.ScramParamsRequest(username=username[:512]),
                directory.ScramParamsReply,
            )  # fmt: skip
        except ServiceError as exc:
            _log.warning("imap.auth.directory_failed", error=str(exc))
            return None
        return answer.salt, answer.iterations

    async def scram(self, username: str, auth_message: str, proof: str, *, client_address: str | None) -> Verdict:
        if len(auth_message) > 8192 or len(proof) > 512:
            return Verdict(None)
        request = directory.AuthRequest(
            mechanism=directory.Mechanism.SCRAM_SHA_256, username=username[:512],
            scram=directory.ScramProof(auth_message=auth_message, client_proof=proof),
            client_address=client_address, protocol="imap",
        )  # fmt: skip
        return await self._ask(request)

    async def _ask(self, request: directory.AuthRequest) -> Verdict:
        try:
            answer = await self.bus.request(directory.RPC_AUTH, request, directory.AuthReply)
        except ServiceError as exc:
            _log.warning("imap.auth.directory_failed", error=str(exc))
            return Verdict(None, "unavailable")
        if answer.ok and answer.account:
            return Verdict(answer.account, "ok", answer.server_signature)
        if answer.failure is directory.AuthFailure.THROTTLED:
            return Verdict(None, "throttled")
        return Verdict(None)


def decode_plain(data: bytes) -> tuple[str, str, str]:
    """RFC 4616: authzid NUL authcid NUL passwd."""
    parts = data.split(b"\0")
    if len(parts) != 3:
        raise SaslError("PLAIN needs authzid, authcid and password")
    authzid, username, password = (p.decode("utf-8") for p in parts)
    return authzid, username, password


@dataclass
class ScramState:
    username: str
    client_first_bare: str
    server_first: str
    nonce: str
    #: The GS2 header ("n,," or "n,a=<authzid>,"): the client-final's c= must carry it.
    gs2_header: str = "n,,"
    #: Set once the proof was right: the account, waiting for the client's empty last response.
    account: str | None = None


def _attributes(text: str) -> list[tuple[str, str]]:
    pairs = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=":
            raise SaslError("malformed SCRAM attribute")
        pairs.append((part[0], part[2:]))
    return pairs


def _unescape(value: str) -> str:
    # RFC 5802 section 5.1: "," and "=" in a name are sent as =2C and =3D.
    if "=" in value.replace("=2C", "").replace("=3D", ""):
        raise SaslError("bad escape in user name")
    return value.replace("=2C", ",").replace("=3D", "=")


def _split_client_first(text: str) -> tuple[str, str, str]:
    """(gs2 header, username, client-first-bare). An authzid is accepted only when it names
    the user itself (as Cyrus SASL clients send it); acting for another user is not supported."""
    if not text.startswith("n,"):
        raise SaslError("channel binding is not supported")
    _, authzid, bare = text.split(",", 2) if text.count(",") >= 2 else ("", "", "")
    attributes = _attributes(bare) if bare else []
    if len(attributes) < 2 or attributes[0][0] != "n" or attributes[1][0] != "r" or not attributes[1][1]:
        raise SaslError("client-first needs n= and r=")
    username = _unescape(attributes[0][1])
    if authzid and (not authzid.startswith("a=") or _unescape(authzid[2:]) != username):
        raise SaslError("authorization identity is not supported")
    return f"n,{authzid},", username, bare


def scram_client_first(data: bytes, *, salt: str, iterations: int) -> ScramState:
    header, username, bare = _split_client_first(data.decode("utf-8"))
    nonce = _attributes(bare)[1][1] + secrets.token_urlsafe(18)
    server_first = f"r={nonce},s={salt},i={iterations}"
    return ScramState(username, bare, server_first, nonce, header)


def scram_username(data: bytes) -> str:
    return _split_client_first(data.decode("utf-8"))[1]


def scram_client_final(state: ScramState, data: bytes) -> tuple[str, str]:
    """Answers (auth message, proof) of the client-final message."""
    text = data.decode("utf-8")
    attributes = _attributes(text)
    binding = base64.b64encode(state.gs2_header.encode()).decode()
    if len(attributes) < 3 or attributes[0] != ("c", binding) or attributes[1] != ("r", state.nonce):
        raise SaslError("client-final does not match")
    if attributes[-1][0] != "p":
        raise SaslError("client-final needs p=")
    without_proof = text[: text.rindex(",p=")]
    return f"{state.client_first_bare},{state.server_first},{without_proof}", attributes[-1][1]


class SaslExchange:
    """The steps of one AUTHENTICATE (RFC 9051 section 6.2.2): challenges, then a verdict.

    `step()` answers bytes to send (a challenge, or the refusal of a malformed
    message) while the exchange goes on, and a `Verdict` once the directory
    has decided; the transport completes the login with it.
    """

    def __init__(self, login: DirectoryLogin, *, client_address: str | None) -> None:
        self.login = login
        self.client_address = client_address
        self._scram: ScramState | None = None

    async def step(self, session: Session, mechanism: str, data: bytes | None, *, first: bool) -> bytes | Verdict:
        try:
            if mechanism == "PLAIN":
                if data is None:
                    return session.auth_challenge(b"")  # RFC 4959: no initial response, ask for it
                authzid, username, password = decode_plain(data)
                if authzid and authzid != username:
                    return session.no("Acting for another user is not supported", code("AUTHORIZATIONFAILED"))
                return await self.login.password(username, password, client_address=self.client_address)
            return await self._scram_step(session, data, first=first)
        except (SaslError, UnicodeDecodeError):
            self._scram = None
            return session.bad("Malformed SASL message")

    async def _scram_step(self, session: Session, data: bytes | None, *, first: bool) -> bytes | Verdict:
        if first:
            self._scram = None
            if not data:
                return session.auth_challenge(b"")
        state = self._scram
        if state is None:
            params = await self.login.scram_params(scram_username(data or b""))
            if params is None:
                return Verdict(None, "unavailable")
            self._scram = scram_client_first(data or b"", salt=params[0], iterations=params[1])
            return session.auth_challenge(self._scram.server_first.encode())
        if state.account is not None:
            # The client's (empty) answer to our server-final message completes the exchange.
            self._scram = None
            if data:
                raise SaslError("expected an empty response")
            return Verdict(state.account, "ok")
        auth_message, proof = scram_client_final(state, data or b"")
        verdict = await self.login.scram(state.username, auth_message, proof, client_address=self.client_address)
        if verdict.account is None or not verdict.signature:
            self._scram = None
            return Verdict(None, verdict.reason)
        state.account = verdict.account
        return session.auth_challenge(f"v={verdict.signature}".encode())
