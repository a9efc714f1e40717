"""What the four transaction state machines share: states, the transition table, timers.

How it works (RFC 3261 section 17): a transaction is driven by explicit time.
Every input -- a message received, a response from the TU, a transport error,
or ``advance(now)`` when ``next_deadline()`` has passed -- returns the events
it caused and may move the state along the table of its class, as h11's
``_state.py`` does. A trigger that the table does not allow in the current
state is the caller's mistake (``LocalProtocolError``), for instance a
response sent after the final one. Timers are deadlines in the caller's
clock; nothing here sleeps or reads a clock.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar

from .errors import LocalProtocolError
from .events import Event, TransactionKey, TransactionTimedOut, Transmit, TransportFailed
from .message import Request, Response
from .timers import TimerConfig


class State(Enum):
    CALLING = "Calling"  # client INVITE
    TRYING = "Trying"  # non-INVITE
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"  # server INVITE
    ACCEPTED = "Accepted"  # RFC 6026, INVITE both sides
    TERMINATED = "Terminated"


class Transaction:
    #: (state, trigger) -> next state. Triggers: "1xx", "2xx", "3xx-6xx" (a response
    #: received or sent), "request" (a retransmission), "ack", and "timer X".
    TRANSITIONS: ClassVar[dict[tuple[State, str], State]] = {}
    INITIAL: ClassVar[State]
    #: Timers that end the transaction with a timeout event.
    TIMEOUTS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, key: TransactionKey, request: Request, *, peer: Any, reliable: bool,
                 config: TimerConfig) -> None:  # fmt: skip
        self.key = key
        self.request = request
        self.peer = peer
        self.reliable = reliable
        self.config = config
        self.state = self.INITIAL
        self._deadlines: dict[str, float] = {}
        self._intervals: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.request.method} {self.state.value}>"

    # -- state table --------------------------------------------------------
    def _move(self, trigger: str) -> None:
        try:
            self.state = self.TRANSITIONS[(self.state, trigger)]
        except KeyError:
            raise LocalProtocolError(f"{trigger} not allowed in state {self.state.value}") from None
        if self.state is State.TERMINATED:
            self._deadlines.clear()

    def allows(self, trigger: str) -> bool:
        return (self.state, trigger) in self.TRANSITIONS

    @staticmethod
    def response_class(response: Response) -> str:
        if response.status < 200:
            return "1xx"
        return "2xx" if response.status < 300 else "3xx-6xx"

    # -- timers ----------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """The earliest time at which ``advance`` has something to do; None when no timer runs."""
        return min(self._deadlines.values()) if self._deadlines else None

    def timer(self, name: str) -> float | None:
        """The deadline of timer ``name`` ("A" ... "M"), if it runs."""
        return self._deadlines.get(name)

    def _start(self, name: str, now: float, interval: float) -> None:
        self._deadlines[name] = now + interval
        self._intervals[name] = interval

    def _stop(self, *names: str) -> None:
        for name in names:
            self._deadlines.pop(name, None)

    def advance(self, now: float) -> list[Event]:
        """Fire every timer whose deadline is at or before ``now``, earliest first."""
        events: list[Event] = []
        while self._deadlines and self.state is not State.TERMINATED:
            name = min(self._deadlines, key=self._deadlines.__getitem__)
            deadline = self._deadlines[name]
            if deadline > now:
                break
            del self._deadlines[name]
            events.extend(self._fire(name, deadline))
        return events

    def _fire(self, name: str, deadline: float) -> list[Event]:
        self._move(f"timer {name}")
        if name in self.TIMEOUTS:
            return [TransactionTimedOut(self.key)]
        return []

    def transport_error(self) -> list[Event]:
        """RFC 3261 sections 17.1.4 and 17.2.4: tell the TU, and end the transaction."""
        if self.state is State.TERMINATED:
            return []
        self.state = State.TERMINATED
        self._deadlines.clear()
        return [TransportFailed(self.key)]

    # -- sending -------------------------------------------------------------------
    def _transmit(self, message: Request | Response, data: bytes, *, again: bool = False) -> Transmit:
        return Transmit(self.key, message, data, self.peer, again)

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED
