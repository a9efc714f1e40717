"""Subject-safe tokens for account names.

A NATS subject token may not contain `.`, `*`, `>` or white space, and an
address has at least one dot. Tokens are the lower-cased address with every
byte outside a conservative safe set written as `%XX` (like URL percent
encoding), so they stay readable in logs and decode back exactly.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

_SAFE = "@_+-="


def encode_token(value: str) -> str:
    """`alice@example.test` -> `alice@example%2Etest`; never empty."""
    if not value:
        return "%00"
    return quote(value.lower(), safe=_SAFE).replace(".", "%2E").replace("~", "%7E")


def decode_token(token: str) -> str:
    return "" if token == "%00" else unquote(token)
