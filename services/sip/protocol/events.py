"""What the transaction layer tells its caller (the transport and the transaction user).

Every method of ``TransactionLayer`` returns a list of these, in the order
they happened:

- ``Transmit``: write ``data`` to ``peer`` (first sending or retransmission).
- ``RequestReceived``: a new server transaction; the TU must answer it with
  ``send_response``. For a CANCEL, ``invite_key`` names the INVITE server
  transaction it matches, if any (RFC 3261 section 9.2).
- ``ResponseReceived``: a response for a client transaction, for the TU.
- ``AckReceived``: an ACK for the TU: the ACK for a 2xx (it is its own
  transaction, section 17.2.3) or one that matched an INVITE server
  transaction in the Accepted state (RFC 6026 passes those up).
- ``StrayResponse``: a response that matches no client transaction (a
  proxy forwards it statelessly, section 16.7; a UA drops it).
- ``TransactionTimedOut``: timer B, F or H fired (section 17.1.1.2,
  17.1.2.2, 17.2.1): the TU treats it as a 408 (client) or a lost ACK (server).
- ``TransportFailed``: the transport reported an error (section 17.1.4, 17.2.4).
- ``TransactionTerminated``: the transaction is gone; its key is free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .message import Request, Response

#: A transaction's identity: ("client", branch, method) for client transactions;
#: ("3261", branch, sent-by, method) or ("2543", ...) for server transactions.
TransactionKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Transmit:
    key: TransactionKey
    message: Request | Response
    data: bytes
    peer: Any
    retransmission: bool = False


@dataclass(frozen=True, slots=True)
class RequestReceived:
    key: TransactionKey
    request: Request
    peer: Any
    invite_key: TransactionKey | None = None


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    key: TransactionKey
    response: Response


@dataclass(frozen=True, slots=True)
class AckReceived:
    request: Request
    peer: Any
    key: TransactionKey | None = None


@dataclass(frozen=True, slots=True)
class StrayResponse:
    response: Response
    peer: Any


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class TransportFailed:
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    key: TransactionKey


Event = (
    Transmit | RequestReceived | ResponseReceived | AckReceived | StrayResponse | TransactionTimedOut
    | TransportFailed | TransactionTerminated
)  # fmt: skip
