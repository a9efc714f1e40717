"""Modified UTF-7 mailbox names (RFC 3501 section 5.1.3).

IMAP4rev1 clients that have not enabled UTF8=ACCEPT (RFC 6855) exchange
mailbox names in this encoding: printable US-ASCII stands for itself except
``&``, which is written ``&-``; every other run of characters is UTF-16BE,
base64 with ``,`` instead of ``/``, no padding, between ``&`` and ``-``.

Decoding is strict, so that one name has exactly one spelling (a second
spelling would let a client create two mailboxes that look the same):
RFC 3501 forbids encoding printable ASCII in base64, and requires that a
shift never directly follows another (``&AGE-&AGI-`` must be ``&AGEAYg-``),
that padding bits are zero and that surrogates pair up.
"""

from __future__ import annotations

import base64
import binascii


class InvalidModifiedUtf7(ValueError):
    """The bytes are not a canonical modified UTF-7 name."""


def _is_direct(char: str) -> bool:
    return 0x20 <= ord(char) <= 0x7E


def encode(name: str) -> str:
    """``"Entwürfe"`` -> ``"Entw&APw-rfe"``; ASCII printable stays, ``&`` becomes ``&-``."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be", "surrogatepass")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if _is_direct(char):
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode(text: str) -> str:
    """The inverse of ``encode``; raises ``InvalidModifiedUtf7`` for anything non-canonical."""
    out: list[str] = []
    i = 0
    last_shift_end = -1
    while i < len(text):
        char = text[i]
        if not _is_direct(char):
            raise InvalidModifiedUtf7(f"character {char!r} must be encoded")
        if char != "&":
            out.append(char)
            i += 1
            continue
        end = text.find("-", i + 1)
        if end < 0:
            raise InvalidModifiedUtf7("unterminated '&' shift")
        chunk = text[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            if last_shift_end == i:
                raise InvalidModifiedUtf7("two adjacent encoded runs must be one")
            out.append(_decode_run(chunk))
            last_shift_end = end + 1
        i = end + 1
    return "".join(out)


def _decode_run(chunk: str) -> str:
    if len(chunk) % 4 == 1 or any(c not in _B64_CHARS for c in chunk):
        raise InvalidModifiedUtf7(f"invalid base64 in '&{chunk}-'")
    padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except binascii.Error as error:
        raise InvalidModifiedUtf7(f"invalid base64 in '&{chunk}-'") from error
    if len(raw) % 2:
        raise InvalidModifiedUtf7("encoded run is not whole UTF-16 units")
    # Non-zero padding bits mean a second spelling of the same run.
    if base64.b64encode(raw).decode("ascii").rstrip("=") != padded.rstrip("="):
        raise InvalidModifiedUtf7("non-zero padding bits")
    try:
        decoded = raw.decode("utf-16-be")
    except UnicodeDecodeError as error:
        raise InvalidModifiedUtf7("unpaired UTF-16 surrogate") from error
    if any(_is_direct(c) for c in decoded):
        raise InvalidModifiedUtf7("printable US-ASCII must not be encoded")
    return decoded


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
