"""Command lines: the verb, and the syntax of each command's arguments (RFC 5321 section 4.1).

``parse_command`` turns one line (without its <CRLF>) into a ``Command``;
``parse_<verb>`` functions check that command's argument grammar. Every syntax
problem raises ``RemoteProtocolError`` carrying the reply the client gets.
Whether a command is allowed *now* is not decided here but in ``states``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from . import replies
from .addresses import (
    Address,
    AddressError,
    NonAsciiAddressError,
    parse_forward_path,
    parse_reverse_path,
)
from .errors import RemoteProtocolError
from .parameters import MailParameters, RcptParameters, parse_mail_parameters, parse_rcpt_parameters


class Verb(enum.StrEnum):
    HELO = "HELO"
    EHLO = "EHLO"
    LHLO = "LHLO"  # RFC 2033 section 4.1
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    BDAT = "BDAT"  # RFC 3030 section 2
    RSET = "RSET"
    NOOP = "NOOP"
    QUIT = "QUIT"
    VRFY = "VRFY"
    EXPN = "EXPN"
    HELP = "HELP"
    STARTTLS = "STARTTLS"  # RFC 3207 section 4
    AUTH = "AUTH"  # RFC 4954 section 4


# RFC 2033 section 4.1: LMTP replaces HELO and EHLO by LHLO.
SMTP_VERBS = frozenset(Verb) - {Verb.LHLO}
LMTP_VERBS = frozenset(Verb) - {Verb.HELO, Verb.EHLO}

_VERB = re.compile(rb"[A-Za-z]{1,16}")
_BDAT = re.compile(r"([0-9]{1,20})(?: +(LAST))?", re.IGNORECASE)  # RFC 3030: chunk-size [SP end-marker]
_HELO_NAME = re.compile(r"[\x21-\x7e]+")  # one printable ASCII word, judged further by policy
_SASL_MECHANISM = re.compile(r"[A-Za-z0-9_-]{1,20}")  # RFC 4422 section 3.1


@dataclass(frozen=True, slots=True)
class Command:
    verb: Verb
    #: Everything after the first space, decoded as UTF-8, trailing spaces removed.
    argument: str


def parse_command(line: bytes, *, lmtp: bool) -> Command:
    """Split ``VERB SP argument`` (RFC 5321 section 4.1.1); the verb is case-insensitive."""
    if b"\0" in line:
        raise RemoteProtocolError(replies.nul_in_command())
    verb_bytes, _, rest = line.partition(b" ")
    if not _VERB.fullmatch(verb_bytes):
        raise RemoteProtocolError(replies.command_unrecognized())
    name = verb_bytes.decode("ascii").upper()
    if name not in (LMTP_VERBS if lmtp else SMTP_VERBS):
        raise RemoteProtocolError(replies.command_unrecognized())
    try:
        argument = rest.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError(replies.syntax_error("Invalid UTF-8 in command")) from None
    return Command(Verb(name), argument.rstrip(" "))


def require_no_argument(command: Command) -> None:
    """DATA, RSET, QUIT and STARTTLS take no argument (RFC 5321 4.1.1.4/5/10, RFC 3207 section 4)."""
    if command.argument:
        raise RemoteProtocolError(replies.invalid_arguments(f"Syntax: {command.verb} (no parameters allowed)"))


def parse_helo(command: Command) -> str:
    """``EHLO SP ( Domain / address-literal )``: one ASCII word; its meaning is policy's call."""
    if not _HELO_NAME.fullmatch(command.argument):
        raise RemoteProtocolError(replies.invalid_arguments(f"Syntax: {command.verb} hostname"))
    return command.argument


def parse_mail(command: Command, *, auth_offered: bool) -> tuple[Address | None, MailParameters]:
    """``MAIL FROM:<reverse-path> [SP Mail-parameters]`` (RFC 5321 section 4.1.1.2)."""
    path_text = _after_prefix(command, "FROM:")
    # The parameters decide whether UTF-8 is allowed in the path, so read them first.
    try:
        _, rest = parse_reverse_path(path_text, utf8=True)
    except AddressError as error:
        raise RemoteProtocolError(replies.bad_sender_address(str(error))) from None
    params = parse_mail_parameters(_parameter_text(rest), auth_offered=auth_offered)
    _require_ascii_unless_utf8(rest, utf8=params.smtputf8)
    try:
        reverse_path, _ = parse_reverse_path(path_text, utf8=params.smtputf8)
    except NonAsciiAddressError:
        raise RemoteProtocolError(replies.non_ascii_address()) from None
    return reverse_path, params


def parse_rcpt(command: Command, *, utf8: bool) -> tuple[Address, RcptParameters]:
    """``RCPT TO:<forward-path> [SP Rcpt-parameters]`` (RFC 5321 section 4.1.1.3)."""
    path_text = _after_prefix(command, "TO:")
    try:
        address, rest = parse_forward_path(path_text, utf8=utf8)
    except NonAsciiAddressError:
        raise RemoteProtocolError(replies.non_ascii_address()) from None
    except AddressError as error:
        raise RemoteProtocolError(replies.bad_recipient_address(str(error))) from None
    _require_ascii_unless_utf8(rest, utf8=utf8)
    return address, parse_rcpt_parameters(_parameter_text(rest))


def parse_bdat(command: Command) -> tuple[int, bool]:
    """``BDAT SP chunk-size [SP "LAST"]`` (RFC 3030 section 2): the size and the last-chunk flag."""
    match = _BDAT.fullmatch(command.argument)
    if not match:
        raise RemoteProtocolError(replies.invalid_arguments("Syntax: BDAT chunk-size [LAST]"))
    return int(match.group(1)), match.group(2) is not None


def parse_auth(command: Command) -> tuple[str, str | None]:
    """``AUTH SP sasl-mech [SP initial-response]`` (RFC 4954 section 4)."""
    mechanism, _, initial = command.argument.partition(" ")
    if not _SASL_MECHANISM.fullmatch(mechanism) or " " in initial:
        raise RemoteProtocolError(replies.invalid_arguments("Syntax: AUTH mechanism [initial-response]"))
    return mechanism.upper(), initial or None


def _after_prefix(command: Command, prefix: str) -> str:
    if command.argument[: len(prefix)].upper() != prefix:
        raise RemoteProtocolError(replies.invalid_arguments(f"Syntax: {command.verb} {prefix}<address>"))
    # Not in the grammar, but widely sent ("MAIL FROM: <a@b>"); accepted as Postfix does.
    return command.argument[len(prefix) :].lstrip(" ")


def _parameter_text(rest: str) -> str:
    if rest and not rest.startswith(" "):
        raise RemoteProtocolError(replies.invalid_arguments("Parameters must follow the address after a space"))
    return rest


def _require_ascii_unless_utf8(parameters: str, *, utf8: bool) -> None:
    if not utf8 and not parameters.isascii():
        raise RemoteProtocolError(replies.invalid_arguments("Non-ASCII parameter requires SMTPUTF8"))
