"""The session's states and the command transition table, written down as data.

How this works
--------------
A session is in exactly one ``State``. In the *command states* the next input
line is a command, and ``TRANSITIONS[(state, verb)]`` says what it may do:

* a ``State`` -- the command is allowed, and that is the state the session
  enters once the command succeeds (a 2yz reply from the core or the caller);
  on failure the session stays where it is;
* a ``Reply`` -- the command is refused in this state with this reply (used
  where the RFC names a more precise answer than the generic one);
* no entry -- the command is refused with 503 5.5.1 "Bad sequence of commands"
  (RFC 5321 section 4.1.4; RFC 3463 X.5.1).

``transition()`` turns the last two into ``RemoteProtocolError``, so a command
in the wrong place never surfaces as a ``KeyError``. The other states read
bytes rather than commands (message content, a BDAT chunk, SASL lines) or wait
for the caller (greeting, TLS handshake), and are driven by ``Session``.

Entering ``READY`` or ``AWAITING_HELO`` drops any mail transaction: every way
back there (RSET, a new EHLO, end of message, STARTTLS) discards the envelope.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from . import replies
from .errors import RemoteProtocolError
from .parser import Verb
from .replies import Reply


class State(enum.Enum):
    #: Connected; the caller has not greeted yet (``GreetingNeeded``).
    AWAITING_GREETING = enum.auto()
    #: Greeted with 554: only QUIT is honoured (RFC 5321 section 3.1).
    REFUSED = enum.auto()
    #: Greeted (or TLS just started): the client must identify itself.
    AWAITING_HELO = enum.auto()
    #: Identified, no mail transaction.
    READY = enum.auto()
    #: MAIL accepted, no recipient accepted yet.
    HAVE_SENDER = enum.auto()
    #: At least one RCPT accepted.
    HAVE_RECIPIENTS = enum.auto()
    #: After 354: message lines until <CRLF>.<CRLF> (RFC 5321 section 4.1.1.4).
    RECEIVING_DATA = enum.auto()
    #: Inside the octets of a BDAT chunk (RFC 3030 section 2).
    RECEIVING_CHUNK = enum.auto()
    #: A non-LAST BDAT chunk was accepted; more BDAT expected.
    BETWEEN_CHUNKS = enum.auto()
    #: SASL exchange in progress: lines are responses, not commands (RFC 4954 section 4).
    AUTHENTICATING = enum.auto()
    #: STARTTLS accepted; no more plaintext is read until ``start_tls()`` (RFC 3207).
    AWAITING_TLS = enum.auto()
    CLOSED = enum.auto()


COMMAND_STATES = frozenset(
    {State.REFUSED, State.AWAITING_HELO, State.READY, State.HAVE_SENDER, State.HAVE_RECIPIENTS, State.BETWEEN_CHUNKS}
)
TRANSACTION_STATES = frozenset(
    {State.HAVE_SENDER, State.HAVE_RECIPIENTS, State.RECEIVING_DATA, State.RECEIVING_CHUNK, State.BETWEEN_CHUNKS}
)

_GREETED = (State.AWAITING_HELO, State.READY, State.HAVE_SENDER, State.HAVE_RECIPIENTS, State.BETWEEN_CHUNKS)
_IN_TRANSACTION = (State.HAVE_SENDER, State.HAVE_RECIPIENTS, State.BETWEEN_CHUNKS)


def _build() -> dict[tuple[State, Verb], State | Reply]:
    table: dict[tuple[State, Verb], State | Reply] = {}
    for state in _GREETED:
        # RFC 5321 section 4.1.4: NOOP, HELP, EXPN, VRFY and RSET may be used at any
        # time; QUIT ends the session anywhere (section 4.1.1.10).
        for verb in (Verb.NOOP, Verb.HELP, Verb.VRFY, Verb.EXPN):
            table[state, verb] = state
        table[state, Verb.QUIT] = State.CLOSED
        table[state, Verb.RSET] = State.AWAITING_HELO if state is State.AWAITING_HELO else State.READY
        # RFC 5321 section 4.1.4: a later EHLO acts as RSET as well.
        for verb in (Verb.HELO, Verb.EHLO, Verb.LHLO):
            table[state, verb] = State.READY
    # RFC 5321 section 3.1: after a 554 greeting, only QUIT.
    table[State.REFUSED, Verb.QUIT] = State.CLOSED

    hello_first = replies.bad_sequence("Send HELO/EHLO/LHLO first")
    for verb in (Verb.MAIL, Verb.STARTTLS, Verb.AUTH):
        table[State.AWAITING_HELO, verb] = hello_first

    table[State.READY, Verb.MAIL] = State.HAVE_SENDER
    for state in _IN_TRANSACTION:
        table[state, Verb.MAIL] = replies.bad_sequence("Sender already specified")
        # RFC 4954 section 4: AUTH is not permitted during a mail transaction.
        table[state, Verb.AUTH] = replies.bad_sequence("AUTH not permitted during a mail transaction")
        table[state, Verb.STARTTLS] = replies.bad_sequence("STARTTLS not permitted during a mail transaction")

    for state in (State.AWAITING_HELO, State.READY):
        table[state, Verb.RCPT] = replies.bad_sequence("Need MAIL before RCPT")
        for verb in (Verb.DATA, Verb.BDAT):
            table[state, verb] = replies.bad_sequence("Need MAIL and RCPT first")
    table[State.HAVE_SENDER, Verb.RCPT] = State.HAVE_RECIPIENTS
    table[State.HAVE_RECIPIENTS, Verb.RCPT] = State.HAVE_RECIPIENTS
    table[State.BETWEEN_CHUNKS, Verb.RCPT] = replies.bad_sequence("RCPT not allowed after BDAT")

    # RFC 5321 section 3.3: DATA when every RCPT failed may get 554 "no valid recipients".
    for verb in (Verb.DATA, Verb.BDAT):
        table[State.HAVE_SENDER, verb] = replies.no_valid_recipients()
    table[State.HAVE_RECIPIENTS, Verb.DATA] = State.RECEIVING_DATA
    table[State.HAVE_RECIPIENTS, Verb.BDAT] = State.RECEIVING_CHUNK
    table[State.BETWEEN_CHUNKS, Verb.BDAT] = State.RECEIVING_CHUNK
    # RFC 3030 section 2: DATA and BDAT cannot be mixed in one transaction.
    table[State.BETWEEN_CHUNKS, Verb.DATA] = replies.bad_sequence("DATA not allowed after BDAT")

    table[State.READY, Verb.STARTTLS] = State.AWAITING_TLS
    table[State.READY, Verb.AUTH] = State.AUTHENTICATING
    return table


TRANSITIONS: Mapping[tuple[State, Verb], State | Reply] = MappingProxyType(_build())


def transition(state: State, verb: Verb) -> State:
    """The state ``verb`` leads to from ``state``; raises ``RemoteProtocolError`` if refused here."""
    target = TRANSITIONS.get((state, verb), None)
    if target is None:
        raise RemoteProtocolError(replies.bad_sequence())
    if isinstance(target, Reply):
        raise RemoteProtocolError(target)
    return target
