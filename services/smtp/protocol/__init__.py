"""Sans-I/O ESMTP/LMTP server protocol: feed bytes, get events, answer, send reply bytes.

No sockets, no asyncio, no bus: the transport reads and writes, the policy
decides, and this package only knows the protocol (RFC 5321 with SIZE,
8BITMIME, SMTPUTF8, PIPELINING, ENHANCEDSTATUSCODES, DSN, CHUNKING, STARTTLS,
AUTH, and LMTP). See ``session`` for the driving loop.
"""

from . import replies
from .addresses import Address
from .auth import LOGIN_PASSWORD_CHALLENGE, LOGIN_USERNAME_CHALLENGE, PlainCredentials, decode_plain
from .config import SessionConfig
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    AuthCancelled,
    AuthResponse,
    AuthStarted,
    ConnectionLost,
    DataStarted,
    Envelope,
    Event,
    GreetingNeeded,
    HeloReceived,
    MailFromReceived,
    MessageAborted,
    MessageComplete,
    MessageDataChunk,
    NeedData,
    ProtocolError,
    Question,
    QuitReceived,
    Recipient,
    RecipientReceived,
    ResetReceived,
    SessionTerminated,
    StartTlsRequested,
)
from .limits import BareNewlinePolicy, Limits
from .parameters import BodyType, DsnNotify, DsnReturn, MailParameters, OriginalRecipient, RcptParameters
from .replies import Reply
from .session import Session
from .states import State

__all__ = [
    "LOGIN_PASSWORD_CHALLENGE",
    "LOGIN_USERNAME_CHALLENGE",
    "NEED_DATA",
    "Address",
    "AuthCancelled",
    "AuthResponse",
    "AuthStarted",
    "BareNewlinePolicy",
    "BodyType",
    "ConnectionLost",
    "DataStarted",
    "DsnNotify",
    "DsnReturn",
    "Envelope",
    "Event",
    "GreetingNeeded",
    "HeloReceived",
    "Limits",
    "LocalProtocolError",
    "MailFromReceived",
    "MailParameters",
    "MessageAborted",
    "MessageComplete",
    "MessageDataChunk",
    "NeedData",
    "OriginalRecipient",
    "PlainCredentials",
    "ProtocolError",
    "Question",
    "QuitReceived",
    "RcptParameters",
    "Recipient",
    "RecipientReceived",
    "RemoteProtocolError",
    "Reply",
    "ResetReceived",
    "Session",
    "SessionConfig",
    "SessionTerminated",
    "StartTlsRequested",
    "State",
    "decode_plain",
    "replies",
]
