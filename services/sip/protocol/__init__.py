"""Sans-I/O SIP core (RFC 3261): bytes in, messages and transaction events out.

No sockets, no asyncio, no bus, no clock: the transport reads and writes and
passes the time, the proxy and registrar decide. This package knows the
protocol -- the message grammar (``parser``, ``message``, ``uri``,
``address``, ``via``, ``auth``), stream framing with RFC 5626 keep-alives
(``framing``), and the transaction layer (``layer``, ``client``, ``server``)
with RFC 6026's Accepted state. See README.md for how to drive it and the
decisions taken.
"""

from .address import NameAddr, parse_name_addr
from .auth import ALGORITHMS, AuthValue, challenge, credentials, digest_ha1, digest_response, parse_auth
from .builders import REASONS, ack_for, cancel_for, error_response, new_request, reason_phrase, response
from .client import InviteClientTransaction, NonInviteClientTransaction
from .errors import GrammarError, LocalProtocolError, ParseError, RemoteProtocolError, ReplyContext
from .events import (
    AckReceived,
    Event,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionKey,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
)
from .framing import NEED_DATA, PING, PONG, FramingFailed, KeepAlivePing, KeepAlivePong, MessageFramed, StreamFramer
from .headers import COMPACT_FORMS, HeaderField, Headers, canonical_name
from .layer import TransactionLayer, client_key, new_branch, server_key
from .limits import Limits
from .message import CSeq, Message, Request, Response
from .parser import parse_message
from .server import InviteServerTransaction, NonInviteServerTransaction
from .timers import TimerConfig
from .transaction import State, Transaction
from .uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri, uri_equal
from .via import MAGIC_COOKIE, Via, parse_via, response_destination

__all__ = [
    "ALGORITHMS", "COMPACT_FORMS", "MAGIC_COOKIE", "NEED_DATA", "PING", "PONG", "REASONS", "AbsoluteUri",
    "AckReceived", "AuthValue", "CSeq", "Event", "FramingFailed", "GrammarError", "HeaderField", "Headers",
    "InviteClientTransaction", "InviteServerTransaction", "KeepAlivePing", "KeepAlivePong", "Limits",
    "LocalProtocolError", "Message", "MessageFramed", "NameAddr", "NonInviteClientTransaction",
    "NonInviteServerTransaction", "ParseError", "RemoteProtocolError", "ReplyContext", "Request",
    "RequestReceived", "Response", "ResponseReceived", "SipUri", "State", "StrayResponse", "StreamFramer",
    "TelUri", "TimerConfig", "Transaction", "TransactionKey", "TransactionLayer", "TransactionTerminated",
    "TransactionTimedOut", "Transmit", "TransportFailed", "Uri", "Via", "ack_for", "cancel_for",
    "canonical_name", "challenge", "client_key", "credentials", "digest_ha1", "digest_response",
    "error_response", "new_branch", "new_request", "parse_auth", "parse_message", "parse_name_addr", "parse_uri",
    "parse_via", "reason_phrase", "response", "response_destination", "server_key", "uri_equal",
]  # fmt: skip
