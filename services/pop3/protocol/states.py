"""The POP3 session states and which commands each accepts, as data (RFC 1939 sections 3-6).

How this works
--------------
A session starts in AUTHORIZATION (after the greeting). USER/PASS or AUTH
that succeeds moves it to TRANSACTION: the maildrop is locked and its scan
listing taken. QUIT in TRANSACTION moves it to UPDATE, where the messages
marked for deletion are removed, and then it is CLOSED. QUIT in
AUTHORIZATION, too many errors, a timeout or a lost connection close it
without an UPDATE (RFC 1939 section 6: nothing is removed then).

While a question is out (a password to check, a message to send, the
deletions to apply), the session reads no further command: pipelined
commands (RFC 2449 section 6.6) wait in the buffer and are answered in order.
"""

from __future__ import annotations

from enum import Enum, auto


class State(Enum):
    AUTHORIZATION = auto()
    TRANSACTION = auto()
    UPDATE = auto()
    CLOSED = auto()


AUTHORIZATION_COMMANDS = frozenset({"USER", "PASS", "AUTH", "STLS", "CAPA", "QUIT", "APOP"})
TRANSACTION_COMMANDS = frozenset({"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP", "UIDL", "CAPA"})
KNOWN_COMMANDS = AUTHORIZATION_COMMANDS | TRANSACTION_COMMANDS

ALLOWED: dict[State, frozenset[str]] = {
    State.AUTHORIZATION: AUTHORIZATION_COMMANDS,
    State.TRANSACTION: TRANSACTION_COMMANDS,
    State.UPDATE: frozenset(),
    State.CLOSED: frozenset(),
}

# (state, what happened) -> next state. Anything not listed keeps the state.
TRANSITIONS: dict[tuple[State, str], State] = {
    (State.AUTHORIZATION, "login_succeeded"): State.TRANSACTION,
    (State.AUTHORIZATION, "quit"): State.CLOSED,
    (State.TRANSACTION, "quit"): State.UPDATE,
    (State.UPDATE, "update_finished"): State.CLOSED,
    (State.AUTHORIZATION, "terminated"): State.CLOSED,
    (State.TRANSACTION, "terminated"): State.CLOSED,
    (State.AUTHORIZATION, "connection_lost"): State.CLOSED,
    (State.TRANSACTION, "connection_lost"): State.CLOSED,
}


def next_state(state: State, happening: str) -> State:
    return TRANSITIONS.get((state, happening), state)
