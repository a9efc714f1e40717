"""Authorization, WWW-Authenticate and the Proxy- variants (RFC 3261 section 22, 25.1; RFC 8760).

    challenge   = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
    credentials = ("Digest" LWS dig-resp *(COMMA dig-resp)) / other-response
    auth-param  = auth-param-name EQUAL ( token / quoted-string )

Parameters are kept in order, values unquoted. Unknown schemes parse as long
as their parameters are auth-params (RFC 4475 regaut01); otherwise their text
is kept in ``raw``. The digest computation (RFC 2617 as used by RFC 3261,
with the RFC 8760 algorithms MD5, SHA-256 and SHA-512-256 and their -sess
variants) is here for a client that answers a challenge; the server side of
the check lives with the credentials in the directory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .errors import GrammarError
from .grammar import WSP, quote, read_quoted, read_token, skip_ws

#: RFC 8760 section 2.1 (and RFC 3261's MD5): algorithm name → hashlib name.
ALGORITHMS = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
# Parameters written as tokens, not quoted strings (RFC 3261 section 25.1, RFC 7616 section 3.4).
_UNQUOTED = frozenset({"algorithm", "stale", "nc", "qop"})


@dataclass(frozen=True, slots=True)
class AuthValue:
    """One challenge or credentials value: the scheme and its parameters (names as written)."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()
    raw: str = ""

    def __str__(self) -> str:
        if not self.params:
            return f"{self.scheme} {self.raw}".rstrip()
        parts = []
        for name, value in self.params:
            quoted = name.lower() not in _UNQUOTED or (name.lower() == "qop" and self._is_challenge_qop(value))
            parts.append(f"{name}={quote(value) if quoted else value}")
        return f"{self.scheme} " + ", ".join(parts)

    def _is_challenge_qop(self, value: str) -> bool:
        # In a challenge qop is a quoted list ("auth,auth-int"); in credentials a token.
        return "response" not in self.names

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name.lower() for name, _ in self.params)

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    def get(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.params:
            if key.lower() == lowered:
                return value
        return None

    # Typed accessors for the digest parameters both directions use.
    @property
    def realm(self) -> str | None:
        return self.get("realm")

    @property
    def nonce(self) -> str | None:
        return self.get("nonce")

    @property
    def opaque(self) -> str | None:
        return self.get("opaque")

    @property
    def algorithm(self) -> str:
        """Digest algorithm, upper case; MD5 when absent (RFC 3261 section 22.4)."""
        return (self.get("algorithm") or "MD5").upper()

    @property
    def username(self) -> str | None:
        return self.get("username")

    @property
    def uri(self) -> str | None:
        return self.get("uri")

    @property
    def response(self) -> str | None:
        return self.get("response")

    @property
    def cnonce(self) -> str | None:
        return self.get("cnonce")

    @property
    def nc(self) -> str | None:
        return self.get("nc")

    @property
    def qop(self) -> str | None:
        return self.get("qop")

    @property
    def qop_options(self) -> tuple[str, ...]:
        """A challenge's qop list (``"auth,auth-int"``)."""
        value = self.get("qop")
        return () if value is None else tuple(v.strip(WSP).lower() for v in value.split(",") if v.strip(WSP))

    @property
    def stale(self) -> bool:
        return (self.get("stale") or "").lower() == "true"

    @property
    def userhash(self) -> bool:
        return (self.get("userhash") or "").lower() == "true"


def parse_auth(text: str) -> AuthValue:
    """Parse one challenge or credentials value."""
    i = skip_ws(text, 0)
    scheme, i = read_token(text, i, "authentication scheme")
    rest = text[i:].strip(WSP)
    if i < len(text) and text[i] not in WSP:
        raise GrammarError("Bad authentication scheme")
    try:
        params = _read_auth_params(rest)
    except GrammarError:
        if scheme.lower() == "digest":
            raise
        return AuthValue(scheme, (), rest)
    return AuthValue(scheme, params, rest)


def _read_auth_params(text: str) -> tuple[tuple[str, str], ...]:
    params: list[tuple[str, str]] = []
    n = len(text)
    i = 0
    while True:
        i = skip_ws(text, i)
        name, i = read_token(text, i, "auth parameter name")
        i = skip_ws(text, i)
        if i >= n or text[i] != "=":
            raise GrammarError("Expected = in auth parameter")
        i = skip_ws(text, i + 1)
        if i < n and text[i] == '"':
            quoted, i = read_quoted(text, i)
            value = quoted[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        else:
            value, i = read_token(text, i, "auth parameter value")
        params.append((name, value))
        i = skip_ws(text, i)
        if i >= n:
            return tuple(params)
        if text[i] != ",":
            raise GrammarError("Expected , between auth parameters")
        i += 1


def challenge(*, realm: str, nonce: str, algorithm: str = "MD5", opaque: str | None = None,
              stale: bool = False, qop: str | None = "auth") -> AuthValue:  # fmt: skip
    """A Digest challenge for WWW-Authenticate / Proxy-Authenticate."""
    params = [("realm", realm), ("nonce", nonce)]
    if opaque is not None:
        params.append(("opaque", opaque))
    if stale:
        params.append(("stale", "TRUE"))
    params.append(("algorithm", algorithm))
    if qop is not None:
        params.append(("qop", qop))
    return AuthValue("Digest", tuple(params))


def credentials(*, username: str, realm: str, nonce: str, uri: str, response: str, algorithm: str = "MD5",
                opaque: str | None = None, qop: str | None = None, nc: str | None = None,
                cnonce: str | None = None) -> AuthValue:  # fmt: skip
    """Digest credentials for Authorization / Proxy-Authorization (a client answering a challenge)."""
    params = [("username", username), ("realm", realm), ("nonce", nonce), ("uri", uri), ("response", response),
              ("algorithm", algorithm)]  # fmt: skip
    if opaque is not None:
        params.append(("opaque", opaque))
    if qop is not None:
        params += [("qop", qop), ("nc", nc or "00000001"), ("cnonce", cnonce or "")]
    return AuthValue("Digest", tuple(params))


def _hash(algorithm: str, data: str) -> str:
    base = algorithm.upper().removesuffix("-SESS")
    if base not in ALGORITHMS:
        raise GrammarError(f"Unsupported digest algorithm {algorithm}")
    return hashlib.new(ALGORITHMS[base], data.encode("utf-8", "surrogateescape")).hexdigest()


def digest_ha1(*, algorithm: str, username: str, realm: str, password: str) -> str:
    """H(username:realm:password) (RFC 3261 section 22.4, RFC 8760 section 2)."""
    return _hash(algorithm, f"{username}:{realm}:{password}")


def digest_response(*, algorithm: str, ha1: str, nonce: str, method: str, uri: str, qop: str | None = None,
                    nc: str | None = None, cnonce: str | None = None, body: bytes = b"") -> str:  # fmt: skip
    """The request-digest (RFC 2617 section 3.2.2.1, with the RFC 8760 hash for ``algorithm``)."""
    if algorithm.upper().endswith("-SESS"):
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce or ''}")
    if qop == "auth-int":
        base = algorithm.upper().removesuffix("-SESS")
        body_hash = hashlib.new(ALGORITHMS[base], body).hexdigest()
        ha2 = _hash(algorithm, f"{method}:{uri}:{body_hash}")
    else:
        ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop:
        return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
