"""HTTP/SIP digest authentication (RFC 7616, RFC 8760 for SIP): HA1 and response checking.

The directory stores HA1 = H(username ":" realm ":" password) for MD5 and
SHA-256, with realm = the account's domain, and checks a response without the
password ever being stored in clear.
"""

from __future__ import annotations

import hashlib
import hmac

ALGORITHMS = {"MD5": "md5", "SHA-256": "sha256"}


def _h(algorithm: str, data: str) -> str:
    return hashlib.new(ALGORITHMS[algorithm], data.encode()).hexdigest()


def base_algorithm(algorithm: str) -> str:
    """`SHA-256-sess` -> `SHA-256`; raises ValueError on anything we do not support."""
    name = algorithm.upper().removesuffix("-SESS")
    if name not in ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return name


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    return _h(base_algorithm(algorithm), f"{username}:{realm}:{password}")


def expected_response(
    *,
    algorithm: str,
    ha1_hex: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None,
    nc: str | None,
    cnonce: str | None,
    body_hash: str | None = None,
) -> str:
    """RFC 7616 section 3.4.1 (and RFC 2069 compatibility when qop is absent)."""
    base = base_algorithm(algorithm)
    key = ha1_hex
    if algorithm.upper().endswith("-SESS"):
        key = _h(base, f"{ha1_hex}:{nonce}:{cnonce or ''}")
    if qop == "auth-int":
        if body_hash is None:
            raise ValueError("qop=auth-int needs the body hash")
        ha2 = _h(base, f"{method}:{uri}:{body_hash}")
    else:
        ha2 = _h(base, f"{method}:{uri}")
    if qop in ("auth", "auth-int"):
        return _h(base, f"{key}:{nonce}:{nc or ''}:{cnonce or ''}:{qop}:{ha2}")
    return _h(base, f"{key}:{nonce}:{ha2}")


def response_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.lower(), given.lower())
