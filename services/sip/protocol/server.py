"""Server transactions (RFC 3261 section 17.2, RFC 6026 section 7.1).

INVITE server transaction (figure 7 with RFC 6026's Accepted state):

    Proceeding --TU 1xx--> Proceeding (INVITE retransmissions get the last 1xx again)
    Proceeding --TU 2xx--> Accepted (timer L; TU's 2xx retransmissions pass, INVITEs absorbed,
                                     ACKs passed to the TU) --L--> Terminated
    Proceeding --TU 300-699--> Completed (timers G and H; INVITE retransmissions get the
                                          response again) --ACK--> Confirmed (timer I) --I--> Terminated
    Completed --timer G--> Completed (response again, G doubles up to T2)
    Completed --timer H--> Terminated (ACK never came: timeout to the TU)

Non-INVITE server transaction (figure 8):

    Trying (retransmissions absorbed) --TU 1xx--> Proceeding (retransmissions get the 1xx)
    Trying/Proceeding --TU final--> Completed (retransmissions get the final; timer J) --J--> Terminated

A 100 Trying for INVITE is sent at once when ``auto_trying`` is set (section
17.2.1 requires one within 200 ms unless the TU answers sooner; a proxy always
sends it, section 16.2).
"""

from __future__ import annotations

from typing import Any, ClassVar

from .builders import response as build_response
from .errors import LocalProtocolError
from .events import AckReceived, Event, TransactionKey
from .message import Request, Response
from .timers import TimerConfig
from .transaction import State, Transaction

P, X, CF, A, T, TR = (State.PROCEEDING, State.COMPLETED, State.CONFIRMED, State.ACCEPTED, State.TERMINATED,
                      State.TRYING)  # fmt: skip


class _ServerTransaction(Transaction):
    def __init__(self, key: TransactionKey, request: Request, *, peer: Any, reliable: bool,
                 config: TimerConfig) -> None:  # fmt: skip
        super().__init__(key, request, peer=peer, reliable=reliable, config=config)
        self.last_response: Response | None = None
        self._last_data = b""

    def _send(self, response: Response) -> Event:
        self.last_response = response
        self._last_data = response.to_bytes()
        return self._transmit(response, self._last_data)

    def _resend(self) -> list[Event]:
        if self.last_response is None:
            return []
        return [self._transmit(self.last_response, self._last_data, again=True)]

    def _check_response(self, response: Response) -> str:
        cseq = response.cseq
        if cseq.method != self.request.method or cseq.number != self.request.cseq.number:
            raise LocalProtocolError("The response's CSeq does not match the transaction's request")
        trigger = self.response_class(response)
        if not self.allows(f"send {trigger}"):
            raise LocalProtocolError(f"Cannot send a {trigger} response in state {self.state.value}")
        return trigger


class InviteServerTransaction(_ServerTransaction):
    INITIAL = State.PROCEEDING
    TIMEOUTS = frozenset({"H"})
    TRANSITIONS: ClassVar[dict[tuple[State, str], State]] = {
        (P, "request"): P, (X, "request"): X, (CF, "request"): CF, (A, "request"): A,
        (P, "send 1xx"): P,
        (P, "send 2xx"): A, (A, "send 2xx"): A,
        (P, "send 3xx-6xx"): X,
        (X, "ack"): CF, (CF, "ack"): CF, (A, "ack"): A,
        (X, "timer G"): X,
        (X, "timer H"): T,
        (CF, "timer I"): T,
        (A, "timer L"): T,
    }  # fmt: skip

    def start(self, now: float, *, auto_trying: bool = True) -> list[Event]:
        """Called when the INVITE arrived; sends 100 Trying with ``auto_trying``."""
        if auto_trying:
            return [self._send(build_response(self.request, 100))]
        return []

    def receive_request(self, request: Request, now: float) -> list[Event]:
        """A retransmission of the INVITE (section 17.2.1)."""
        self._move("request")
        if self.state in (State.PROCEEDING, State.COMPLETED):
            return self._resend()
        return []  # Confirmed, Accepted: absorbed

    def receive_ack(self, ack: Request, now: float) -> list[Event]:
        if not self.allows("ack"):
            return []
        previous = self.state
        self._move("ack")
        if previous is State.ACCEPTED:
            return [AckReceived(ack, self.peer, self.key)]
        if previous is State.COMPLETED:
            self._stop("G", "H")
            if self.reliable:
                self._move("timer I")
            else:
                self._start("I", now, self.config.t4)
        return []  # Confirmed: retransmitted ACKs absorbed

    def send_response(self, response: Response, now: float) -> list[Event]:
        trigger = self._check_response(response)
        previous = self.state
        self._move(f"send {trigger}")
        events = [self._send(response)]
        if trigger == "2xx" and previous is State.PROCEEDING:
            self._start("L", now, self.config.timeout)
        elif trigger == "3xx-6xx":
            if not self.reliable:
                self._start("G", now, self.config.t1)
            self._start("H", now, self.config.timeout)
        return events

    def _fire(self, name: str, deadline: float) -> list[Event]:
        events = super()._fire(name, deadline)
        if name == "G":
            self._start("G", deadline, min(2 * self._intervals["G"], self.config.t2))
            events.extend(self._resend())
        return events


class NonInviteServerTransaction(_ServerTransaction):
    INITIAL = State.TRYING
    TRANSITIONS: ClassVar[dict[tuple[State, str], State]] = {
        (TR, "request"): TR, (P, "request"): P, (X, "request"): X,
        (TR, "send 1xx"): P, (P, "send 1xx"): P,
        (TR, "send 2xx"): X, (P, "send 2xx"): X, (TR, "send 3xx-6xx"): X, (P, "send 3xx-6xx"): X,
        (X, "timer J"): T,
    }  # fmt: skip

    def start(self, now: float, *, auto_trying: bool = False) -> list[Event]:
        return []

    def receive_request(self, request: Request, now: float) -> list[Event]:
        """A retransmission: absorbed in Trying, answered with the last response after it."""
        self._move("request")
        return [] if self.state is State.TRYING else self._resend()

    def send_response(self, response: Response, now: float) -> list[Event]:
        self._move(f"send {self._check_response(response)}")
        events = [self._send(response)]
        if self.state is State.COMPLETED:
            if self.reliable:
                self._move("timer J")
            else:
                self._start("J", now, self.config.timeout)
        return events
