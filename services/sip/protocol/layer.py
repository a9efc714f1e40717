"""The transaction layer: matching messages to transactions, and the timers of all of them.

How it works: the transport parses what it receives and calls
``receive(message, now=..., peer=..., reliable=...)``; the TU sends with
``send_request`` and ``send_response``; the caller's loop sleeps until
``next_deadline()`` and then calls ``advance(now)``. Each call returns the
events to act on (``events.py``): ``Transmit`` goes to the transport, the
rest to the TU. Terminated transactions are forgotten at once.

Matching (RFC 3261 section 17.2.3): a request whose top Via branch starts
with the magic cookie ``z9hG4bK`` (and has more after it, RFC 4475
badbranch) is keyed by (branch, sent-by, method), with ACK counted as INVITE
so the ACK for a non-2xx finds its INVITE transaction. Otherwise the RFC 2543
rules apply: Request-URI, To tag, From tag, Call-ID, CSeq number and method,
and the top Via; an ACK matches with the To tag of the response the
transaction sent, so that tag is registered as an alias when the final
response goes out. A CANCEL is its own transaction; ``invite_key`` on its
``RequestReceived`` names the INVITE transaction it cancels (section 9.2).
Responses match a client transaction by top Via branch and CSeq method
(section 17.1.3).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

from .client import InviteClientTransaction, NonInviteClientTransaction
from .errors import LocalProtocolError
from .events import AckReceived, Event, RequestReceived, StrayResponse, TransactionKey, TransactionTerminated
from .message import Request, Response
from .server import InviteServerTransaction, NonInviteServerTransaction
from .timers import TimerConfig
from .transaction import Transaction
from .via import MAGIC_COOKIE

ClientTransaction = InviteClientTransaction | NonInviteClientTransaction
ServerTransaction = InviteServerTransaction | NonInviteServerTransaction


def server_key(request: Request, *, method: str | None = None, to_tag: str | None = None) -> TransactionKey:
    """The key of the server transaction ``request`` belongs to (section 17.2.3)."""
    method = method or request.method
    if method == "ACK":
        method = "INVITE"
    top = request.top_via
    assert top is not None  # the parser requires a Via
    if top.rfc3261_branch:
        return ("3261", (top.branch or "").lower(), top.sent_by, method)
    tag = request.to.tag if to_tag is None else to_tag
    return ("2543", request.uri_text or str(request.uri), tag, request.from_.tag, request.call_id,
            request.cseq.number, method, str(top))  # fmt: skip


def client_key(message: Request | Response) -> TransactionKey:
    """The key of the client transaction a request creates or a response belongs to (section 17.1.3)."""
    top = message.top_via
    branch = top.branch if top is not None else None
    if not branch:
        raise LocalProtocolError("A client transaction needs a branch in the top Via")
    return ("client", branch.lower(), message.cseq.method)


def new_branch(random_part: str) -> str:
    """An RFC 3261 branch: the magic cookie and a value unique in space and time (section 8.1.1.7)."""
    return MAGIC_COOKIE + random_part


class TransactionLayer:
    def __init__(self, config: TimerConfig | None = None, *, auto_trying: bool = True) -> None:
        self.config = config or TimerConfig()
        self.auto_trying = auto_trying
        self._transactions: dict[TransactionKey, Transaction] = {}
        self._aliases: dict[TransactionKey, TransactionKey] = {}  # RFC 2543 ACK keys
        self._heap: list[tuple[float, int, TransactionKey]] = []
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return len(self._transactions)

    def get(self, key: TransactionKey) -> Transaction | None:
        return self._transactions.get(key)

    # -- inputs -----------------------------------------------------------------
    def receive(self, message: Request | Response, *, now: float, peer: Any, reliable: bool) -> list[Event]:
        """A parsed message from the transport."""
        if isinstance(message, Response):
            return self._receive_response(message, now, peer)
        if message.method == "ACK":
            return self._receive_ack(message, now, peer)
        key = server_key(message)
        existing = self._transactions.get(key)
        if isinstance(existing, InviteServerTransaction | NonInviteServerTransaction):
            return self._after(existing, existing.receive_request(message, now))
        tx: ServerTransaction
        if message.method == "INVITE":
            tx = InviteServerTransaction(key, message, peer=peer, reliable=reliable, config=self.config)
        else:
            tx = NonInviteServerTransaction(key, message, peer=peer, reliable=reliable, config=self.config)
        self._transactions[key] = tx
        invite_key = self.matching_invite(message) if message.method == "CANCEL" else None
        events: list[Event] = [RequestReceived(key, message, peer, invite_key)]
        events.extend(tx.start(now, auto_trying=self.auto_trying))
        return self._after(tx, events)

    def send_request(self, request: Request, *, now: float, peer: Any, reliable: bool) -> list[Event]:
        """Start a client transaction for ``request`` (its top Via carries a fresh branch)."""
        if request.method == "ACK":
            raise LocalProtocolError("An ACK for a 2xx is sent without a transaction")
        key = client_key(request)
        if key in self._transactions:
            raise LocalProtocolError("A client transaction with this branch exists")
        tx: ClientTransaction
        if request.method == "INVITE":
            tx = InviteClientTransaction(key, request, peer=peer, reliable=reliable, config=self.config)
        else:
            tx = NonInviteClientTransaction(key, request, peer=peer, reliable=reliable, config=self.config)
        self._transactions[key] = tx
        return self._after(tx, tx.start(now))

    def send_response(self, key: TransactionKey, response: Response, *, now: float) -> list[Event]:
        """The TU's response for server transaction ``key``."""
        tx = self._transactions.get(key)
        if not isinstance(tx, InviteServerTransaction | NonInviteServerTransaction):
            raise LocalProtocolError("No such server transaction")
        events = tx.send_response(response, now)
        if key[0] == "2543" and response.status >= 200 and isinstance(tx, InviteServerTransaction):
            alias = server_key(tx.request, to_tag=response.to.tag)
            if alias != key:
                self._aliases[alias] = key
        return self._after(tx, events)

    def transport_error(self, key: TransactionKey, *, now: float) -> list[Event]:
        """The transport could not send for transaction ``key``."""
        tx = self._transactions.get(key)
        return [] if tx is None else self._after(tx, tx.transport_error())

    def advance(self, now: float) -> list[Event]:
        """Fire every timer due at ``now``."""
        events: list[Event] = []
        while self._heap and self._heap[0][0] <= now:
            deadline, _, key = heapq.heappop(self._heap)
            tx = self._transactions.get(key)
            if tx is None or tx.next_deadline() != deadline:
                continue  # stale entry: the transaction ended or its timers changed
            events.extend(self._after(tx, tx.advance(now)))
        return events

    def next_deadline(self) -> float | None:
        """When ``advance`` must be called next; None when no timer runs."""
        while self._heap:
            deadline, _, key = self._heap[0]
            tx = self._transactions.get(key)
            if tx is not None and tx.next_deadline() == deadline:
                return deadline
            heapq.heappop(self._heap)
        return None

    def matching_invite(self, cancel: Request) -> TransactionKey | None:
        """The INVITE server transaction a CANCEL applies to (section 9.2), if it exists."""
        key = server_key(cancel, method="INVITE")
        key = self._aliases.get(key, key)
        return key if isinstance(self._transactions.get(key), InviteServerTransaction) else None

    # -- internals --------------------------------------------------------------
    def _receive_response(self, response: Response, now: float, peer: Any) -> list[Event]:
        try:
            key = client_key(response)
        except LocalProtocolError:
            return [StrayResponse(response, peer)]
        tx = self._transactions.get(key)
        if not isinstance(tx, InviteClientTransaction | NonInviteClientTransaction):
            return [StrayResponse(response, peer)]
        return self._after(tx, tx.receive_response(response, now))

    def _receive_ack(self, ack: Request, now: float, peer: Any) -> list[Event]:
        key = server_key(ack)
        key = self._aliases.get(key, key)
        tx = self._transactions.get(key)
        if isinstance(tx, InviteServerTransaction):
            return self._after(tx, tx.receive_ack(ack, now))
        # The ACK for a 2xx is a transaction of its own (section 17.2.3): for the TU.
        return [AckReceived(ack, peer)]

    def _after(self, tx: Transaction, events: list[Event]) -> list[Event]:
        if tx.terminated:
            self._forget(tx.key)
            events.append(TransactionTerminated(tx.key))
        else:
            deadline = tx.next_deadline()
            if deadline is not None:
                heapq.heappush(self._heap, (deadline, next(self._sequence), tx.key))
        return events

    def _forget(self, key: TransactionKey) -> None:
        self._transactions.pop(key, None)
        if key[0] != "2543":
            return
        for alias in [a for a, k in self._aliases.items() if k == key]:
            del self._aliases[alias]
