"""Account names as NATS subject tokens and JetStream KV keys.

A subject token may not contain `.`, `*`, `>` or white space, and a KV key
allows only `[-/_=.A-Za-z0-9]`; an address has an `@` and at least one dot.
Tokens keep ASCII letters, digits, `-` and `_`, and write every other byte of
the lower-cased UTF-8 text as `=XX` (quoted-printable style), so one
encoding is valid in both places and decodes back exactly:
`alice@example.test` -> `alice=40example=2Etest`.
"""

from __future__ import annotations

import re

_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_ESCAPE = re.compile(rb"=([0-9A-F]{2})")
EMPTY_TOKEN = "="  # no encoding produces a lone "=", so it cannot collide


def encode_token(value: str) -> str:
    """Lower-case `value` and escape it into one subject token / KV key; never empty."""
    if not value:
        return EMPTY_TOKEN
    return "".join(chr(b) if b in _SAFE else f"={b:02X}" for b in value.lower().encode())


def decode_token(token: str) -> str:
    if token == EMPTY_TOKEN:
        return ""
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), token.encode()).decode()
