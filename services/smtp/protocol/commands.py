"""One handler per command: check the arguments, then answer or ask the caller.

A handler runs only once ``states.transition`` has allowed the command in the
current state. It gets the command and a read-only ``Context`` and returns an
outcome; it never changes the session itself:

* a ``Reply`` -- the core answers on its own (the session moves to the
  table's next state if the reply is positive);
* a ``Question`` event -- the caller decides (recipient exists? credentials?);
* a ``BdatChunk`` -- BDAT's octets follow and must be read whatever happens.

A client mistake raises ``RemoteProtocolError`` (counted towards the error
limit); a refusal that is not the client's fault (SIZE too large, too many
recipients) is returned as a plain ``Reply``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from . import replies
from .auth import decode_initial_response
from .capabilities import auth_offered
from .config import SessionConfig
from .errors import RemoteProtocolError
from .events import (
    AuthStarted,
    HeloReceived,
    MailFromReceived,
    Question,
    RecipientReceived,
    StartTlsRequested,
)
from .parser import (
    LMTP_VERBS,
    SMTP_VERBS,
    Command,
    Verb,
    parse_auth,
    parse_bdat,
    parse_helo,
    parse_mail,
    parse_rcpt,
    require_no_argument,
)
from .replies import Reply


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may know about the session."""

    config: SessionConfig
    tls_active: bool
    authenticated: bool
    #: The transaction's MAIL carried SMTPUTF8 (RFC 6531 section 3.4).
    smtputf8: bool = False
    recipient_count: int = 0


@dataclass(frozen=True, slots=True)
class BdatChunk:
    size: int
    last: bool


Outcome = Reply | Question | BdatChunk


def handle_helo(command: Command, context: Context) -> Outcome:
    return HeloReceived(parse_helo(command), extended=False)


def handle_ehlo(command: Command, context: Context) -> Outcome:
    return HeloReceived(parse_helo(command), extended=True)


def handle_lhlo(command: Command, context: Context) -> Outcome:
    # RFC 2033 section 4.1: LHLO is EHLO under another name.
    return HeloReceived(parse_helo(command), extended=True)


def handle_mail(command: Command, context: Context) -> Outcome:
    config = context.config
    if config.auth_required and not context.authenticated:
        return replies.auth_required()  # RFC 4954 section 6
    reverse_path, params = parse_mail(command, auth_offered=auth_offered(config, tls_active=context.tls_active))
    # RFC 1870 section 6.1: a declared size over our fixed maximum fails at once.
    if params.size is not None and params.size > config.limits.max_message_size:
        return replies.message_too_big()
    return MailFromReceived(reverse_path, params)


def handle_rcpt(command: Command, context: Context) -> Outcome:
    address, params = parse_rcpt(command, utf8=context.smtputf8)
    # RFC 5321 section 4.5.3.1.10: 452, and the client sends the rest in another transaction.
    if context.recipient_count >= context.config.limits.max_recipients:
        return replies.too_many_recipients()
    return RecipientReceived(address, params)


def handle_data(command: Command, context: Context) -> Outcome:
    require_no_argument(command)
    return replies.start_data()


def handle_bdat(command: Command, context: Context) -> Outcome:
    size, last = parse_bdat(command)
    return BdatChunk(size, last)


def handle_rset(command: Command, context: Context) -> Outcome:
    require_no_argument(command)
    return replies.ok()


def handle_noop(command: Command, context: Context) -> Outcome:
    # RFC 5321 section 4.1.1.9: an argument is allowed and ignored.
    return replies.ok()


def handle_quit(command: Command, context: Context) -> Outcome:
    require_no_argument(command)
    return replies.closing(context.config.hostname)


def handle_vrfy(command: Command, context: Context) -> Outcome:
    if not command.argument:
        raise RemoteProtocolError(replies.invalid_arguments("Syntax: VRFY address"))
    return replies.cannot_verify()


def handle_expn(command: Command, context: Context) -> Outcome:
    # RFC 5321 section 7.3: EXPN may be disabled; lists stay private.
    return replies.not_implemented()


def handle_help(command: Command, context: Context) -> Outcome:
    verbs = LMTP_VERBS if context.config.lmtp else SMTP_VERBS
    return replies.help_text(sorted(verbs))


def handle_starttls(command: Command, context: Context) -> Outcome:
    if context.tls_active:
        raise RemoteProtocolError(replies.bad_sequence("TLS already active"))
    if not context.config.tls_available:
        raise RemoteProtocolError(replies.not_implemented())
    require_no_argument(command)  # RFC 3207 section 4: "501 Syntax error (no parameters allowed)"
    return StartTlsRequested()


def handle_auth(command: Command, context: Context) -> Outcome:
    config = context.config
    if not config.auth_mechanisms:
        raise RemoteProtocolError(replies.not_implemented())
    if context.authenticated:
        # RFC 4954 section 4: after a successful AUTH, no more AUTH commands.
        raise RemoteProtocolError(replies.already_authenticated())
    mechanism, initial = parse_auth(command)
    if mechanism not in config.auth_mechanisms:
        raise RemoteProtocolError(replies.auth_mechanism_unknown())
    if not auth_offered(config, tls_active=context.tls_active):
        raise RemoteProtocolError(replies.auth_encryption_required())
    return AuthStarted(mechanism, None if initial is None else decode_initial_response(initial))


HANDLERS: Mapping[Verb, Callable[[Command, Context], Outcome]] = MappingProxyType(
    {
        Verb.HELO: handle_helo,
        Verb.EHLO: handle_ehlo,
        Verb.LHLO: handle_lhlo,
        Verb.MAIL: handle_mail,
        Verb.RCPT: handle_rcpt,
        Verb.DATA: handle_data,
        Verb.BDAT: handle_bdat,
        Verb.RSET: handle_rset,
        Verb.NOOP: handle_noop,
        Verb.QUIT: handle_quit,
        Verb.VRFY: handle_vrfy,
        Verb.EXPN: handle_expn,
        Verb.HELP: handle_help,
        Verb.STARTTLS: handle_starttls,
        Verb.AUTH: handle_auth,
    }
)
