"""Client transactions (RFC 3261 section 17.1, RFC 6026 section 7.2).

INVITE client transaction (figure 5 with RFC 6026's Accepted state):

    Calling --1xx--> Proceeding --1xx--> Proceeding
    Calling/Proceeding --2xx--> Accepted (timer M; later 2xx passed up) --M--> Terminated
    Calling/Proceeding --300-699--> Completed (ACK sent, timer D) --D--> Terminated
    Calling --timer A--> Calling (request again, A doubles); --timer B--> Terminated (timeout)

Non-INVITE client transaction (figure 6):

    Trying --1xx--> Proceeding; Trying/Proceeding --final--> Completed (timer K) --K--> Terminated
    timer E: request again, interval doubling up to T2 in Trying, T2 in Proceeding
    timer F: Terminated (timeout)

On reliable transports A and E do not run, and D and K are zero: the
transaction ends as soon as it completes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .builders import ack_for
from .events import Event, ResponseReceived, TransactionKey
from .message import Request, Response
from .timers import TimerConfig
from .transaction import State, Transaction

C, P, X, A, T, TR = (State.CALLING, State.PROCEEDING, State.COMPLETED, State.ACCEPTED, State.TERMINATED,
                     State.TRYING)  # fmt: skip


class InviteClientTransaction(Transaction):
    INITIAL = State.CALLING
    TIMEOUTS = frozenset({"B"})
    TRANSITIONS: ClassVar[dict[tuple[State, str], State]] = {
        (C, "timer A"): C,
        (C, "timer B"): T,
        (C, "1xx"): P, (P, "1xx"): P,
        (C, "2xx"): A, (P, "2xx"): A,
        (C, "3xx-6xx"): X, (P, "3xx-6xx"): X,
        (X, "3xx-6xx"): X,  # retransmission: ACK again
        (X, "timer D"): T,
        (A, "2xx"): A,  # RFC 6026: further 2xx go to the TU
        (A, "timer M"): T,
    }  # fmt: skip

    def __init__(self, key: TransactionKey, request: Request, *, peer: Any, reliable: bool,
                 config: TimerConfig) -> None:  # fmt: skip
        super().__init__(key, request, peer=peer, reliable=reliable, config=config)
        self._data = request.to_bytes()
        self._ack: Request | None = None
        self._ack_data = b""

    def start(self, now: float) -> list[Event]:
        """Send the INVITE; start timers A (unreliable only) and B."""
        if not self.reliable:
            self._start("A", now, self.config.t1)
        self._start("B", now, self.config.timeout)
        return [self._transmit(self.request, self._data)]

    def receive_response(self, response: Response, now: float) -> list[Event]:
        trigger = self.response_class(response)
        if not self.allows(trigger):
            return []  # e.g. a late 1xx after the final response: absorbed
        previous = self.state
        self._move(trigger)
        if trigger == "1xx":
            self._stop("A", "B")
            return [ResponseReceived(self.key, response)]
        if trigger == "2xx":
            self._stop("A", "B")
            if previous is not State.ACCEPTED:
                self._start("M", now, self.config.timeout)
            return [ResponseReceived(self.key, response)]
        # 300-699: ACK it (section 17.1.1.3); a retransmission is only ACKed again.
        if previous is State.COMPLETED:
            return [self._transmit(self._ack or self.request, self._ack_data, again=True)]
        self._stop("A", "B")
        self._ack = ack_for(self.request, response)
        self._ack_data = self._ack.to_bytes()
        events: list[Event] = [ResponseReceived(self.key, response), self._transmit(self._ack, self._ack_data)]
        if self.reliable:
            self._move("timer D")
        else:
            self._start("D", now, self.config.d)
        return events

    def _fire(self, name: str, deadline: float) -> list[Event]:
        events = super()._fire(name, deadline)
        if name == "A":
            # Section 17.1.1.2: A doubles each time (no T2 cap for INVITE).
            self._start("A", deadline, 2 * self._intervals["A"])
            events.append(self._transmit(self.request, self._data, again=True))
        return events


class NonInviteClientTransaction(Transaction):
    INITIAL = State.TRYING
    TIMEOUTS = frozenset({"F"})
    TRANSITIONS: ClassVar[dict[tuple[State, str], State]] = {
        (TR, "timer E"): TR, (P, "timer E"): P,
        (TR, "timer F"): T, (P, "timer F"): T,
        (TR, "1xx"): P, (P, "1xx"): P,
        (TR, "2xx"): X, (P, "2xx"): X, (TR, "3xx-6xx"): X, (P, "3xx-6xx"): X,
        (X, "timer K"): T,
    }  # fmt: skip

    def __init__(self, key: TransactionKey, request: Request, *, peer: Any, reliable: bool,
                 config: TimerConfig) -> None:  # fmt: skip
        super().__init__(key, request, peer=peer, reliable=reliable, config=config)
        self._data = request.to_bytes()

    def start(self, now: float) -> list[Event]:
        """Send the request; start timers E (unreliable only) and F."""
        if not self.reliable:
            self._start("E", now, self.config.t1)
        self._start("F", now, self.config.timeout)
        return [self._transmit(self.request, self._data)]

    def receive_response(self, response: Response, now: float) -> list[Event]:
        trigger = self.response_class(response)
        if not self.allows(trigger):
            return []  # retransmitted responses in Completed are absorbed
        self._move(trigger)
        events: list[Event] = [ResponseReceived(self.key, response)]
        if self.state is State.COMPLETED:
            self._stop("E", "F")
            if self.reliable:
                self._move("timer K")
            else:
                self._start("K", now, self.config.t4)
        return events

    def _fire(self, name: str, deadline: float) -> list[Event]:
        events = super()._fire(name, deadline)
        if name == "E":
            # Section 17.1.2.2: doubling up to T2 in Trying, T2 in Proceeding.
            interval = self.config.t2 if self.state is State.PROCEEDING else 2 * self._intervals["E"]
            self._start("E", deadline, min(interval, self.config.t2))
            events.append(self._transmit(self.request, self._data, again=True))
        return events
