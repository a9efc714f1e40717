"""The server side of SASL SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding,
shared by the front ends that offer it (smtp, pop3).

The directory keeps the keys and checks the proof; this module only parses
and builds the messages:

    C: n,,n=user,r=<client nonce>                     (client-first)
    S: r=<client nonce><server nonce>,s=<salt>,i=<n>  (server-first)
    C: c=biws,r=<nonce>,p=<proof>                     (client-final)
    S: v=<server signature>                           (server-final)

How the server-final message travels depends on the protocol (a 334 in
SMTP, a "+ " continuation in POP3, each answered by an empty client line).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

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
