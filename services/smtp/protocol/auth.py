"""The SASL exchange lines of AUTH (RFC 4954 section 4), and helpers for the common mechanisms.

The session carries SASL data and nothing more: it decodes the client's
base64 lines into ``AuthStarted`` / ``AuthResponse`` events, and the caller
(which checks credentials) answers with a challenge, success or failure. Any
mechanism therefore works the same way: PLAIN in one step or after an empty
challenge, LOGIN in two prompted steps, SCRAM-SHA-256 as opaque steps.
"""

from __future__ import annotations

import binascii

from libs.auth.plain import PlainCredentials, decode_plain

from . import replies
from .errors import RemoteProtocolError

#: The client's line that abandons the exchange (RFC 4954 section 4).
CANCEL = "*"
#: The prompts of the (unregistered but ubiquitous) LOGIN mechanism.
LOGIN_USERNAME_CHALLENGE = b"Username:"
LOGIN_PASSWORD_CHALLENGE = b"Password:"

#: PLAIN's message (RFC 4616) is decoded as pop3 and imap decode it.
__all__ = [
    "CANCEL",
    "LOGIN_PASSWORD_CHALLENGE",
    "LOGIN_USERNAME_CHALLENGE",
    "PlainCredentials",
    "decode_initial_response",
    "decode_plain",
    "decode_response",
]


def decode_initial_response(text: str) -> bytes:
    """The AUTH command's initial response: "=" stands for an empty one (RFC 4954 section 4)."""
    return b"" if text == "=" else decode_response(text)


def decode_response(text: str) -> bytes:
    """Strict base64: any character outside the alphabet, or misplaced "=", is refused (501 5.5.2)."""
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise RemoteProtocolError(replies.auth_bad_base64()) from None
