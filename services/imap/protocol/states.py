"""The IMAP connection states and which command may run in which, written down as data.

How this works
--------------
RFC 9051 section 3 (figure in 3.5): a connection is in one of four states.

::

    NOT_AUTHENTICATED --LOGIN/AUTHENTICATE ok--> AUTHENTICATED --SELECT/EXAMINE ok--> SELECTED
            ^  (or PREAUTH greeting)                   ^   <--CLOSE/UNSELECT ok, SELECT no--   |
            |                                          +-----------------------------------------+
    any state --LOGOUT / BYE--> LOGOUT

``ALLOWED[name]`` lists the states a command may be issued in (RFC 9051
sections 6.1 - 6.4 and each extension's RFC); ``refusal(state, name)`` gives
the tagged response for a command outside them, which RFC 9051 leaves to the
server: ``BAD`` (the client broke the protocol, it is a client bug), with a
text naming what is missing. ``ON_SUCCESS`` / ``ON_FAILURE`` give the state a
tagged ``OK`` / ``NO`` leads to; every other command leaves the state alone.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from .errors import RemoteProtocolError
from .responses import ResponseCode


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


_N, _A, _S = State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED
_ANY = frozenset({_N, _A, _S})
_NOT_AUTH = frozenset({_N})
_AUTH = frozenset({_A, _S})
_SELECTED = frozenset({_S})

_BY_STATES: dict[frozenset[State], tuple[str, ...]] = {
    # RFC 9051 section 6.1 (any state), RFC 2971 ID.
    _ANY: ("CAPABILITY", "NOOP", "LOGOUT", "ID"),
    # RFC 9051 section 6.2.
    _NOT_AUTH: ("STARTTLS", "AUTHENTICATE", "LOGIN"),
    # RFC 9051 section 6.3 and extensions; RFC 2177 IDLE, RFC 4978 COMPRESS, RFC 9208, RFC 4314.
    _AUTH: (
        "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB",
        "NAMESPACE", "STATUS", "APPEND", "IDLE", "GETQUOTA", "GETQUOTAROOT", "SETQUOTA", "SETACL",
        "DELETEACL", "GETACL", "LISTRIGHTS", "MYRIGHTS", "COMPRESS",
    ),
    # RFC 9051 section 6.4; RFC 4315 UID EXPUNGE, RFC 6851 MOVE, RFC 3691 UNSELECT, RFC 5256.
    _SELECTED: (
        "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "SORT", "THREAD",
        "UID COPY", "UID MOVE", "UID FETCH", "UID SEARCH", "UID STORE", "UID EXPUNGE", "UID SORT", "UID THREAD",
    ),
}  # fmt: skip

#: RFC 5161 section 3.1: "The ENABLE command is only valid in the authenticated state".
_ONLY_AUTHENTICATED = {"ENABLE": frozenset({_A})}

ALLOWED: Mapping[str, frozenset[State]] = MappingProxyType(
    {name: states for states, names in _BY_STATES.items() for name in names} | _ONLY_AUTHENTICATED
)

ON_SUCCESS: Mapping[str, State] = MappingProxyType(
    {
        "LOGIN": _A,
        "AUTHENTICATE": _A,
        "SELECT": _S,
        "EXAMINE": _S,
        "CLOSE": _A,
        "UNSELECT": _A,
        "LOGOUT": State.LOGOUT,
    }
)

#: RFC 9051 section 6.3.2: a failed SELECT leaves no mailbox selected.
ON_FAILURE: Mapping[str, State] = MappingProxyType({"SELECT": _A, "EXAMINE": _A})


def is_known(name: str) -> bool:
    return name in ALLOWED


def refusal(state: State, name: str) -> RemoteProtocolError | None:
    """Why ``name`` may not run in ``state``, or ``None`` if it may."""
    allowed = ALLOWED.get(name)
    if allowed is None:
        return RemoteProtocolError(f"Unknown command {name}")
    if state in allowed:
        return None
    if state is State.NOT_AUTHENTICATED:
        return RemoteProtocolError(f"{name} needs authentication first")
    if allowed == _NOT_AUTH:
        return RemoteProtocolError(f"{name} is only valid before authentication (already authenticated)")
    if allowed == _SELECTED:
        return RemoteProtocolError(f"{name} needs a selected mailbox (no mailbox selected)")
    if name == "ENABLE":
        return RemoteProtocolError("ENABLE is only valid before a mailbox is selected", code=ResponseCode("CLIENTBUG"))
    return RemoteProtocolError(f"{name} is not valid in the {state.value} state")
