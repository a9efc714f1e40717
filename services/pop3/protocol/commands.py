"""Parse one command line into a `Command` (RFC 1939 section 3, RFC 2449 section 3).

Keywords are case-insensitive, three or four characters, separated from
their arguments by single spaces. PASS and USER take the rest of the line as
one argument (RFC 1939 section 7: a password may contain spaces). Message
numbers are decimal, at most 9 digits (no maildrop has a billion messages).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import replies
from .errors import RemoteProtocolError
from .states import KNOWN_COMMANDS

_REST_OF_LINE = frozenset({"USER", "PASS"})
_USAGE = {
    "USER": "USER name",
    "PASS": "PASS password",
    "AUTH": "AUTH mechanism [initial-response]",
    "STLS": "STLS",
    "CAPA": "CAPA",
    "QUIT": "QUIT",
    "STAT": "STAT",
    "LIST": "LIST [msg]",
    "RETR": "RETR msg",
    "DELE": "DELE msg",
    "NOOP": "NOOP",
    "RSET": "RSET",
    "TOP": "TOP msg n",
    "UIDL": "UIDL [msg]",
    "APOP": "APOP name digest",
}
# (fewest, most) arguments of each command
_ARITY = {
    "USER": (1, 1), "PASS": (1, 1), "AUTH": (0, 2), "STLS": (0, 0), "CAPA": (0, 0), "QUIT": (0, 0),
    "STAT": (0, 0), "LIST": (0, 1), "RETR": (1, 1), "DELE": (1, 1), "NOOP": (0, 0), "RSET": (0, 0),
    "TOP": (2, 2), "UIDL": (0, 1), "APOP": (2, 2),
}  # fmt: skip
_NUMERIC = {"LIST", "RETR", "DELE", "TOP", "UIDL"}
MAX_DIGITS = 9


@dataclass(frozen=True, slots=True)
class Command:
    verb: str
    args: tuple[str, ...] = ()


def decode_line(line: bytes) -> str:
    """The line as text: UTF-8 without NUL or other control characters (-ERR otherwise)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError(replies.bad_characters()) from None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise RemoteProtocolError(replies.bad_characters())
    return text


def parse_command(line: bytes) -> Command:
    """A known command with the right number of arguments, or RemoteProtocolError."""
    text = decode_line(line)
    verb, _, rest = text.partition(" ")
    verb = verb.upper()
    if verb not in KNOWN_COMMANDS:
        raise RemoteProtocolError(replies.unknown_command())
    if verb in _REST_OF_LINE:
        args: tuple[str, ...] = (rest,) if rest else ()
    else:
        args = tuple(rest.split())
    fewest, most = _ARITY[verb]
    if not fewest <= len(args) <= most:
        raise RemoteProtocolError(replies.syntax_error(_USAGE[verb]))
    if verb in _NUMERIC and not all(_is_number(a) for a in args):
        raise RemoteProtocolError(replies.syntax_error(_USAGE[verb]))
    return Command(verb, args)


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS
