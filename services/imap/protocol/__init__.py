"""Sans-I/O IMAP4rev1/IMAP4rev2 server protocol: feed bytes, get events, answer, send bytes.

No sockets, no asyncio, no bus: the transport reads and writes, the service
layer executes commands against storage, and this package knows the protocol
(RFC 3501, RFC 9051 and the extensions listed in ``capabilities``). See
``session`` for the driving loop and README.md for the decisions.
"""

from . import responses
from .commands import (
    Append,
    AppendMessage,
    Authenticate,
    Capability,
    Check,
    Close,
    Command,
    Compress,
    Copy,
    Create,
    Delete,
    DeleteAcl,
    Enable,
    Expunge,
    Fetch,
    FetchAttribute,
    GetAcl,
    GetQuota,
    GetQuotaRoot,
    Id,
    Idle,
    List,
    ListRights,
    Login,
    Logout,
    Lsub,
    Move,
    MyRights,
    Namespace,
    Noop,
    QresyncParams,
    Rename,
    Search,
    SearchKey,
    Section,
    Select,
    SetAcl,
    SetQuota,
    Sort,
    StartTls,
    Status,
    Store,
    Subscribe,
    Thread,
    Unselect,
    Unsubscribe,
)
from .config import SessionConfig
from .errors import LocalProtocolError, ParseError, RemoteProtocolError
from .events import (
    NEED_DATA,
    AppendAborted,
    AppendDataChunk,
    AppendDataEnded,
    AppendDataStarted,
    AuthCancelled,
    AuthResponse,
    CommandReceived,
    CompressionRequested,
    ConnectionLost,
    Event,
    ExtensionsEnabled,
    GreetingNeeded,
    IdleDone,
    IdReceived,
    LogoutReceived,
    NeedData,
    ProtocolError,
    Question,
    SessionClosed,
    StartTlsRequested,
)
from .limits import Limits
from .responses import AString, Atom, Literal, Mailbox, ResponseCode, StatusResponse
from .sequence import SeqRange, SequenceSet
from .session import Mode, Session
from .states import State

__all__ = [
    "NEED_DATA", "Append", "AppendAborted", "AppendDataChunk", "AppendDataEnded", "AppendDataStarted",
    "AppendMessage", "AString", "Atom", "AuthCancelled", "AuthResponse", "Authenticate", "Capability", "Check", "Close",
    "Command", "CommandReceived", "Compress", "CompressionRequested", "ConnectionLost", "Copy", "Create",
    "Delete", "DeleteAcl", "Enable", "Event", "Expunge", "ExtensionsEnabled", "Fetch", "FetchAttribute",
    "GetAcl", "GetQuota", "GetQuotaRoot", "GreetingNeeded", "Id", "IdReceived", "Idle", "IdleDone", "Limits",
    "List", "ListRights", "Literal", "LocalProtocolError", "Login", "Logout", "LogoutReceived", "Lsub",
    "Mailbox", "Mode", "Move", "MyRights", "Namespace", "NeedData", "Noop", "ParseError", "ProtocolError",
    "QresyncParams", "Question", "RemoteProtocolError", "Rename", "ResponseCode", "Search", "SearchKey",
    "Section", "Select", "SeqRange", "SequenceSet", "Session", "SessionClosed", "SessionConfig", "SetAcl",
    "SetQuota", "Sort", "StartTls", "StartTlsRequested", "State", "Status", "StatusResponse", "Store",
    "Subscribe", "Thread", "Unselect", "Unsubscribe", "responses",
]  # fmt: skip
