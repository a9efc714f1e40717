"""The server side of SASL SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding,
shared by the front ends that offer it (smtp, pop3, imap).

The directory keeps the keys and checks the proof; this module parses and
builds the messages and runs the exchange (`ScramExchange`):

    C: n,,n=user,r=<client nonce>                     (client-first)
    S: r=<client nonce><server nonce>,s=<salt>,i=<n>  (server-first)
    C: c=biws,r=<nonce>,p=<proof>                     (client-final)
    S: v=<server signature>                           (server-final)

How a challenge travels depends on the protocol (a 334 in SMTP, a "+ "
continuation in POP3 and IMAP, the server-final answered by an empty client
line); each front end keeps only that framing and its replies.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Protocol

from libs.auth.directory_client import AuthOutcome, AuthProblem

MECHANISM = "SCRAM-SHA-256"


class ScramError(ValueError):
    """The client's message does not follow RFC 5802 section 7."""


@dataclass(frozen=True)
class ClientFirst:
    username: str
    nonce: str
    bare: str  # client-first-message-bare, part of the AuthMessage
    #: "n,," or "n,a=<the user itself>,": what the client-final's c= must carry (base64).
    gs2_header: str = "n,,"


@dataclass(frozen=True)
class ClientFinal:
    nonce: str
    proof: str
    without_proof: str


def _attributes(text: str) -> list[tuple[str, str]]:
    pairs = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramError(f"malformed attribute {part[:20]!r}")
        pairs.append((part[0], part[2:]))
    return pairs


def _unescape_name(value: str) -> str:
    # RFC 5802 section 5.1: "," and "=" in a user name are sent as =2C and =3D.
    if "=" in value.replace("=2C", "").replace("=3D", ""):
        raise ScramError("bad escape in user name")
    return value.replace("=2C", ",").replace("=3D", "=")


def parse_client_first(data: bytes) -> ClientFirst:
    text = data.decode("utf-8")
    if text.startswith(("y,", "p=")):
        raise ScramError("channel binding is not supported")
    if not text.startswith("n,"):
        raise ScramError("missing GS2 header")
    _, authzid, bare = text.split(",", 2) if text.count(",") >= 2 else ("", "", "")
    if not bare:
        raise ScramError("client-first needs n= and r=")
    attributes = _attributes(bare)
    if len(attributes) < 2 or attributes[0][0] != "n" or attributes[1][0] != "r":
        raise ScramError("client-first needs n= and r=")
    username, nonce = _unescape_name(attributes[0][1]), attributes[1][1]
    if not username or not nonce or any(ord(ch) < 0x21 or ord(ch) > 0x7E or ch == "," for ch in nonce):
        raise ScramError("bad user name or nonce")
    # Cyrus SASL clients (mbsync, ...) name the user as authorization identity too; that is
    # no different from none. Acting for someone else is not supported.
    if authzid and (not authzid.startswith("a=") or _unescape_name(authzid[2:]) != username):
        raise ScramError("authorization identity is not supported")
    return ClientFirst(username=username, nonce=nonce, bare=bare, gs2_header=f"n,{authzid},")


def server_first(client: ClientFirst, *, salt: str, iterations: int) -> str:
    return f"r={client.nonce}{secrets.token_urlsafe(18)},s={salt},i={iterations}"


def parse_client_final(data: bytes, *, expected_nonce: str, gs2_header: str) -> ClientFinal:
    text = data.decode("utf-8")
    attributes = _attributes(text)
    if len(attributes) < 3 or attributes[0][0] != "c" or attributes[1][0] != "r" or attributes[-1][0] != "p":
        raise ScramError("client-final needs c=, r= and p=")
    if attributes[0][1] != base64.b64encode(gs2_header.encode()).decode():
        raise ScramError("channel binding data does not match")
    if attributes[1][1] != expected_nonce:
        raise ScramError("nonce mismatch")
    without_proof = text[: text.rindex(",p=")]
    return ClientFinal(nonce=attributes[1][1], proof=attributes[-1][1], without_proof=without_proof)


@dataclass(frozen=True)
class Challenge:
    """Bytes to send to the client as the next challenge; the exchange goes on."""

    data: bytes


class ScramDirectory(Protocol):
    """Who keeps the keys (`libs.auth.directory_client.DirectoryAuth`, or a fake in tests)."""

    async def scram_params(self, username: str) -> tuple[str, int] | None: ...

    async def authenticate_scram(
        self, username: str, auth_message: str, proof: str, *, client_address: str | None
    ) -> AuthOutcome: ...


class ScramExchange:
    """The steps of one SCRAM-SHA-256 exchange, server side; one instance per AUTH command.

    How this works: `step(data)` takes each client message (None or b"" first
    when the client sent no initial response) and answers a `Challenge` while
    the exchange goes on, or an `AuthOutcome` once it is over:

    - no initial response        -> Challenge(b"") (RFC 4422 section 5: ask for it)
    - client-first               -> Challenge(server-first), or UNAVAILABLE when the
                                    directory cannot give the salt
    - client-final               -> Challenge(server-final "v=..."), or the refusal
                                    (the directory's problem, INVALID by default)
    - the client's empty answer  -> AuthOutcome(account)

    A message that breaks RFC 5802 section 7 (or a non-empty last answer)
    raises `ScramError` (a ValueError, as is a UnicodeDecodeError); each
    protocol names that refusal itself. After an outcome or an error the
    exchange is over.
    """

    def __init__(self, directory: ScramDirectory, *, client_address: str | None) -> None:
        self.directory = directory
        self.client_address = client_address
        self._client: ClientFirst | None = None
        self._server_first = ""
        self._account: str | None = None  # proof accepted: waiting for the client's empty answer
        self._over = False

    async def step(self, data: bytes | None) -> Challenge | AuthOutcome:
        if self._over:
            raise ScramError("the exchange is over")
        try:
            return await self._step(data)
        except ValueError:  # ScramError, UnicodeDecodeError
            self._over = True
            raise

    async def _step(self, data: bytes | None) -> Challenge | AuthOutcome:
        if self._account is not None:
            account, self._account = self._account, None
            self._over = True
            if data:
                raise ScramError("expected an empty answer to the server-final message")
            return AuthOutcome(account)
        if self._client is None:
            if not data:
                return Challenge(b"")
            client = parse_client_first(data)
            params = await self.directory.scram_params(client.username)
            if params is None:
                self._over = True
                return AuthOutcome(None, AuthProblem.UNAVAILABLE)
            salt, iterations = params
            self._client = client
            self._server_first = server_first(client, salt=salt, iterations=iterations)
            return Challenge(self._server_first.encode())
        client = self._client
        nonce = self._server_first.split(",", 1)[0][2:]
        final = parse_client_final(data or b"", expected_nonce=nonce, gs2_header=client.gs2_header)
        auth_message = f"{client.bare},{self._server_first},{final.without_proof}"
        outcome = await self.directory.authenticate_scram(
            client.username, auth_message, final.proof, client_address=self.client_address
        )
        if outcome.account is None or not outcome.signature:
            self._over = True
            return AuthOutcome(None, outcome.problem or AuthProblem.INVALID, retry_after=outcome.retry_after)
        self._account = outcome.account
        return Challenge(f"v={outcome.signature}".encode())
