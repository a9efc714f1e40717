"""The POP3 protocol core (sans-I/O): bytes in, events out, reply bytes out.

RFC 1939 with CAPA, RESP-CODES, PIPELINING, UIDL, TOP (RFC 2449), AUTH-RESP-CODE
(RFC 3206), STLS (RFC 2595) and SASL AUTH (RFC 5034). See README.md.
"""

from .capabilities import capabilities
from .config import SessionConfig
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    AuthResponse,
    AuthStarted,
    ConnectionLost,
    Event,
    MessageRequested,
    PasswordReceived,
    ProtocolError,
    Question,
    QuitReceived,
    SessionTerminated,
    StartTlsRequested,
    UpdateRequested,
)
from .limits import Limits
from .maildrop import Maildrop, MaildropMessage
from .message import MessageEncoder, encode_message
from .replies import Reply, RespCode
from .session import Session
from .states import State

__all__ = [
    "NEED_DATA",
    "AuthResponse",
    "AuthStarted",
    "ConnectionLost",
    "Event",
    "Limits",
    "LocalProtocolError",
    "Maildrop",
    "MaildropMessage",
    "MessageEncoder",
    "MessageRequested",
    "PasswordReceived",
    "ProtocolError",
    "Question",
    "QuitReceived",
    "RemoteProtocolError",
    "Reply",
    "RespCode",
    "Session",
    "SessionConfig",
    "SessionTerminated",
    "StartTlsRequested",
    "State",
    "UpdateRequested",
    "capabilities",
    "encode_message",
]
