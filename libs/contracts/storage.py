"""The storage service's public surface: mailboxes and messages of every account.

Message bodies never ride the bus: a front end writes the raw message into
the blob store (`libs.blobs`) and sends its sha256 digest. Storage parses it
once, at delivery, and keeps ENVELOPE, BODYSTRUCTURE (with part offsets) and
search fields, so IMAP can serve FETCH from metadata and blob ranges.

Refusals are the errors of `libs.contracts.errors` (MailboxNotFound,
MailboxExists, InvalidName, OverQuota, BlobMissing), so IMAP can answer
[TRYCREATE] or [OVERQUOTA] and SMTP 452/552.

Every request names the `account` it acts for (canonical address, as the
directory returns it): the owner of the mailboxes it touches. Authentication
is the front end's job. A request on another owner's mailbox (a shared
folder) also names the authenticated `actor`; storage then checks the
actor's rights (RFC 4314 access control lists, kept here) and refuses with
Forbidden, or with MailboxNotFound when the actor may not even know the
mailbox exists (no `l` right). Without an actor, or with the owner as actor,
a request acts with all rights, as the owner. Mailbox names are UTF-8 with
`/` as the hierarchy separator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import repeat
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from libs.bus.subjects import encode_token
from libs.contracts.base import Event, Message

SERVICE_NAME = "storage"

RPC_MAILBOX_LIST = "storage.rpc.mailbox_list"
RPC_MAILBOX_CREATE = "storage.rpc.mailbox_create"
RPC_MAILBOX_RENAME = "storage.rpc.mailbox_rename"
RPC_MAILBOX_DELETE = "storage.rpc.mailbox_delete"
RPC_MAILBOX_SUBSCRIBE = "storage.rpc.mailbox_subscribe"
RPC_MAILBOX_STATUS = "storage.rpc.mailbox_status"
RPC_DELIVER = "storage.rpc.deliver"
RPC_APPEND = "storage.rpc.append"
RPC_UIDS = "storage.rpc.uids"
RPC_FETCH = "storage.rpc.fetch"
RPC_STORE_FLAGS = "storage.rpc.store_flags"
RPC_COPY = "storage.rpc.copy"
RPC_MOVE = "storage.rpc.move"
RPC_EXPUNGE = "storage.rpc.expunge"
RPC_VANISHED = "storage.rpc.vanished"
RPC_SEARCH = "storage.rpc.search"
RPC_QUOTA = "storage.rpc.quota"
RPC_BLOB_HOLD = "storage.rpc.blob_hold"
RPC_ACL_SET = "storage.rpc.acl_set"
RPC_ACL_DELETE = "storage.rpc.acl_delete"
RPC_ACL_GET = "storage.rpc.acl_get"
RPC_MY_RIGHTS = "storage.rpc.my_rights"
RPC_SHARED_LIST = "storage.rpc.shared_list"

MAILBOX_CHANGED_PREFIX = "storage.mailbox.changed"
MAILBOX_CHANGED_ALL = f"{MAILBOX_CHANGED_PREFIX}.*"

MAX_UIDS_PER_REQUEST = 100_000
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
SPECIAL_USES = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
DEFAULT_MAILBOXES = (
    ("INBOX", None),
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
)


def mailbox_changed_subject(account: str) -> str:
    return f"{MAILBOX_CHANGED_PREFIX}.{encode_token(account)}"


Account = Field(min_length=3, max_length=320)
#: The authenticated account a request acts for, when it is not the owner (`account`).
Actor = Field(None, min_length=3, max_length=320, description="authenticated account acting on the owner's mailbox")
MailboxName = Field(min_length=1, max_length=1024)


class UidRange(Message):
    """An inclusive UID range; `last=None` means "up to the highest UID" (IMAP's `*`)."""

    first: int = Field(ge=1)
    last: int | None = Field(None, ge=1)


UidSet = list[UidRange]


# --- mailboxes ----------------------------------------------------------------------------


class MailboxInfo(Message):
    name: str
    mailbox_id: int
    uidvalidity: int
    uidnext: int
    highest_modseq: int
    special_use: str | None = None
    subscribed: bool = False
    messages: int = 0
    unseen: int = 0
    deleted: int = 0
    size: int = 0
    first_unseen_uid: int | None = None
    has_children: bool = False


class MailboxListRequest(Message):
    SUBJECT: ClassVar[str] = RPC_MAILBOX_LIST
    account: str = Account
    with_counts: bool = False


class MailboxListReply(Message):
    mailboxes: list[MailboxInfo]


class MailboxCreateRequest(Message):
    SUBJECT: ClassVar[str] = RPC_MAILBOX_CREATE
    account: str = Account
    actor: str | None = Actor
    name: str = MailboxName
    special_use: str | None = None


class MailboxRenameRequest(Message):
    SUBJECT: ClassVar[str] = RPC_MAILBOX_RENAME
    account: str = Account
    actor: str | None = Actor
    name: str = MailboxName
    new_name: str = MailboxName


class MailboxDeleteRequest(Message):
    SUBJECT: ClassVar[str] = RPC_MAILBOX_DELETE
    account: str = Account
    actor: str | None = Actor
    name: str = MailboxName


class MailboxSubscribeRequest(Message):
    SUBJECT: ClassVar[str] = RPC_MAILBOX_SUBSCRIBE
    account: str = Account
    name: str = MailboxName
    subscribed: bool = True


class MailboxStatusRequest(Message):
    SUBJECT: ClassVar[str] = RPC_MAILBOX_STATUS
    account: str = Account
    actor: str | None = Actor
    name: str = MailboxName


class Done(Message):
    ok: bool = True


# --- delivery and append ---------------------------------------------------------------------


class DeliveryTarget(Message):
    account: str = Account
    mailbox: str = Field("INBOX", min_length=1, max_length=1024)
    flags: list[str] = Field(default_factory=list, max_length=100)


class DeliverRequest(Message):
    """Deliver one stored blob to several accounts; each recipient succeeds or fails alone."""

    SUBJECT: ClassVar[str] = RPC_DELIVER
    blob: str = Field(pattern=r"^[0-9a-f]{64}$")
    recipients: list[DeliveryTarget] = Field(min_length=1, max_length=10_000)
    internal_date: datetime | None = None


class DeliveryResult(Message):
    account: str
    ok: bool
    mailbox: str | None = None
    uid: int | None = None
    uidvalidity: int | None = None
    error: str | None = Field(None, description="error code from libs.contracts.errors (over_quota, ...)")
    message: str = ""


class DeliverReply(Message):
    results: list[DeliveryResult]


class AppendRequest(Message):
    SUBJECT: ClassVar[str] = RPC_APPEND
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName
    blob: str = Field(pattern=r"^[0-9a-f]{64}$")
    flags: list[str] = Field(default_factory=list, max_length=100)
    internal_date: datetime | None = None


class AppendReply(Message):
    uid: int
    uidvalidity: int
    modseq: int


# --- reading -----------------------------------------------------------------------------------


class UidsRequest(Message):
    """All UIDs of a mailbox in ascending order (the IMAP sequence-number map)."""

    SUBJECT: ClassVar[str] = RPC_UIDS
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName


class UidsReply(Message):
    uidvalidity: int
    uidnext: int
    highest_modseq: int
    uids: list[int]


FetchItem = Literal["flags", "envelope", "structure", "headers", "internal_date", "size", "blob", "modseq"]


class FetchRequest(Message):
    SUBJECT: ClassVar[str] = RPC_FETCH
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName
    uids: UidSet = Field(min_length=1, max_length=10_000)
    items: list[FetchItem] = Field(default_factory=lambda: ["flags"])
    changed_since: int | None = Field(None, ge=0, description="CONDSTORE: only messages with a higher MODSEQ")
    limit: int = Field(1000, ge=1, le=10_000, description="at most this many messages; ask again from next_uid")


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """One message's metadata, as `FetchReply.messages` hands it out. `envelope` and `structure`
    are JSON documents passed through as text, exactly as storage keeps them: parsing thousands
    of nested objects per page into Python values would cost a front end more than the request
    itself, and it can parse (`envelope_dict()`, `structure_dict()`) only what it renders."""

    uid: int
    modseq: int
    flags: list[str] | None = None
    internal_date: datetime | None = None
    size: int | None = None
    blob: str | None = None
    envelope: str | None = None  # ENVELOPE as JSON text: an object (date, subject, from, ...)
    structure: str | None = None  # BODYSTRUCTURE with part offsets as JSON text: an object
    headers: dict[str, Any] | None = None

    def envelope_dict(self) -> dict[str, Any] | None:
        return json.loads(self.envelope) if self.envelope is not None else None

    def structure_dict(self) -> dict[str, Any] | None:
        return json.loads(self.structure) if self.structure is not None else None


_META_COLUMNS = ("flags", "internal_date", "size", "blob", "envelope", "structure", "headers")


class FetchReply(Message):
    """Messages in UID order, as columns: `uid[i]`, `modseq[i]`, `flags[i]`, ... are the i-th
    message's; an item not asked for is null. `next_uid` is set when more matched than `limit`
    (a reply stays small on the bus). Columns rather than one object per message: parsing ten
    thousand models was most of a large fetch's cost in the front end. `messages` gives them as
    `MessageMeta`, made without validation again."""

    schema_version: int = 2
    uidvalidity: int
    next_uid: int | None = None
    uid: list[int]
    modseq: list[int]
    flags: list[list[str]] | None = None
    internal_date: list[datetime] | None = None
    size: list[int] | None = None
    blob: list[str] | None = None
    envelope: list[str] | None = None
    structure: list[str] | None = None
    headers: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _columns_line_up(self) -> FetchReply:
        count = len(self.uid)
        if len(self.modseq) != count or any(
            len(column) != count for name in _META_COLUMNS if (column := getattr(self, name)) is not None
        ):
            raise ValueError("fetch reply columns of different lengths")
        return self

    @property
    def messages(self) -> list[MessageMeta]:
        missing = repeat(None)
        columns = [getattr(self, name) for name in _META_COLUMNS]
        return list(map(MessageMeta, self.uid, self.modseq, *(c if c is not None else missing for c in columns)))


# --- changing ----------------------------------------------------------------------------------


class StoreFlagsRequest(Message):
    SUBJECT: ClassVar[str] = RPC_STORE_FLAGS
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName
    uids: UidSet = Field(min_length=1, max_length=10_000)
    mode: Literal["add", "remove", "replace"]
    flags: list[str] = Field(max_length=100)
    unchanged_since: int | None = Field(None, ge=0, description="CONDSTORE UNCHANGEDSINCE")


class FlagChange(Message):
    uid: int
    modseq: int
    flags: list[str]


class StoreFlagsReply(Message):
    changed: list[FlagChange]
    modified: list[int] = Field(default_factory=list, description="UIDs refused by UNCHANGEDSINCE")
    highest_modseq: int


class CopyRequest(Message):
    SUBJECT: ClassVar[str] = RPC_COPY
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName
    uids: UidSet = Field(min_length=1, max_length=10_000)
    target: str = MailboxName
    target_account: str | None = Field(
        None, min_length=3, max_length=320, description="owner of the target mailbox when not `account`"
    )


class CopyReply(Message):
    """COPYUID (RFC 4315): source UIDs and the UIDs they got in the target, pairwise."""

    uidvalidity: int
    source_uids: list[int]
    target_uids: list[int]
    expunged: list[int] = Field(default_factory=list, description="for MOVE: UIDs removed from the source")
    highest_modseq: int = 0


class MoveRequest(CopyRequest):
    SUBJECT: ClassVar[str] = RPC_MOVE


class ExpungeRequest(Message):
    SUBJECT: ClassVar[str] = RPC_EXPUNGE
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName
    uids: UidSet | None = Field(None, description="UID EXPUNGE: only these (and only if \\Deleted)")


class ExpungeReply(Message):
    expunged: list[int]
    highest_modseq: int


class VanishedRequest(Message):
    SUBJECT: ClassVar[str] = RPC_VANISHED
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName
    since_modseq: int = Field(ge=0)


class VanishedReply(Message):
    uids: list[int]
    highest_modseq: int


# --- search ------------------------------------------------------------------------------------

SearchOp = Literal[
    "all", "and", "or", "not",
    "seen", "unseen", "answered", "unanswered", "flagged", "unflagged", "deleted", "undeleted",
    "draft", "undraft", "keyword", "unkeyword",
    "before", "on", "since", "sentbefore", "senton", "sentsince",
    "larger", "smaller", "uid", "modseq",
    "from", "to", "cc", "bcc", "subject", "header", "body", "text",
]  # fmt: skip


class SearchKey(Message):
    """One IMAP SEARCH key (RFC 9051 section 6.4.4) as a tree: and/or/not hold `keys`.

    `value` is the key's argument: a string (text keys, keyword), an ISO date
    (date keys), an integer (larger, smaller, modseq), a header field name
    in `field` with its value (header), or `uids` (uid).
    """

    op: SearchOp
    value: str | int | None = Field(None)
    field: str | None = Field(None, max_length=200)
    uids: UidSet | None = None
    keys: list[SearchKey] = Field(default_factory=list, max_length=1000)


class SearchRequest(Message):
    SUBJECT: ClassVar[str] = RPC_SEARCH
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName
    criteria: SearchKey


class SearchReply(Message):
    uids: list[int] = Field(description="the matching UIDs, ascending")
    highest_modseq: int | None = Field(
        None,
        description="the highest MODSEQ among the matches, only when the criteria hold a MODSEQ key "
        "(the one case IMAP reports it, RFC 7162 section 3.1.5); None otherwise or without matches",
    )


class QuotaRequest(Message):
    SUBJECT: ClassVar[str] = RPC_QUOTA
    account: str = Account


class QuotaReply(Message):
    bytes_used: int
    messages_used: int
    bytes_limit: int | None = None
    messages_limit: int | None = None


class BlobHoldRequest(Message):
    """Take (`hold=True`) or release one reference on a blob that is not a stored message,
    so garbage collection keeps it (the SMTP outbound queue holds the bodies it queues)."""

    SUBJECT: ClassVar[str] = RPC_BLOB_HOLD
    blob: str = Field(pattern=r"^[0-9a-f]{64}$")
    hold: bool = True


# --- access control lists (RFC 4314) -----------------------------------------------------------

#: Every right of RFC 4314 section 2.1, in the order MYRIGHTS and GETACL answer them. The owner
#: has them all, always.
ALL_RIGHTS = "lrswipkxtea"
#: The identifier that stands for every authenticated account (RFC 4314 section 3).
ANYONE = "anyone"
Rights = Field(max_length=32, pattern=r"^[a-z0-9]*$")
Identifier = Field(min_length=3, max_length=320, description="a canonical account address, or `anyone`")


class AclSetRequest(Message):
    """Set (`mode="replace"`), add to or take from one identifier's rights on a mailbox.
    Letters outside ALL_RIGHTS are refused (BadRequest); the owner's own rights cannot change."""

    SUBJECT: ClassVar[str] = RPC_ACL_SET
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName
    identifier: str = Identifier
    rights: str = Rights
    mode: Literal["replace", "add", "remove"] = "replace"


class AclDeleteRequest(Message):
    SUBJECT: ClassVar[str] = RPC_ACL_DELETE
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName
    identifier: str = Identifier


class AclGetRequest(Message):
    """The whole list (needs `a`): the owner first, with every right."""

    SUBJECT: ClassVar[str] = RPC_ACL_GET
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName


class AclEntry(Message):
    identifier: str
    rights: str


class AclReply(Message):
    entries: list[AclEntry]


class MyRightsRequest(Message):
    """The actor's rights on a mailbox (its own entry joined with `anyone`'s)."""

    SUBJECT: ClassVar[str] = RPC_MY_RIGHTS
    account: str = Account
    actor: str | None = Actor
    mailbox: str = MailboxName


class MyRightsReply(Message):
    rights: str


class SharedListRequest(Message):
    """Mailboxes of other owners that `account` may look up (`l`, to it or to `anyone`)."""

    SUBJECT: ClassVar[str] = RPC_SHARED_LIST
    account: str = Account
    with_counts: bool = False


class SharedMailbox(Message):
    owner: str
    rights: str
    #: Counts only with `r` (zero otherwise); `subscribed` is the owner's.
    mailbox: MailboxInfo


class SharedListReply(Message):
    mailboxes: list[SharedMailbox]


# --- events --------------------------------------------------------------------------------------


class ChangeKind(StrEnum):
    ADDED = "added"
    FLAGS = "flags"
    EXPUNGED = "expunged"
    MAILBOX_CREATED = "mailbox_created"
    MAILBOX_RENAMED = "mailbox_renamed"
    MAILBOX_DELETED = "mailbox_deleted"


class MailboxChanged(Event):
    """Published on `storage.mailbox.changed.<account token>` after every committed change."""

    SUBJECT: ClassVar[str] = MAILBOX_CHANGED_PREFIX
    account: str
    mailbox: str
    mailbox_id: int
    uidvalidity: int
    kind: ChangeKind
    uids: list[int] = Field(default_factory=list)
    modseq: int = 0
    new_name: str | None = None

    def subject(self) -> str:
        return mailbox_changed_subject(self.account)
