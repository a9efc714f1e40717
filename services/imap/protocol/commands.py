"""Parsed IMAP commands as typed, frozen values (RFC 3501, RFC 9051 and extensions).

One class per command; ``UID`` variants are the same class with ``uid=True``.
Every command carries its ``tag``. Mailbox names are Unicode: the parser has
already decoded modified UTF-7 (or taken UTF-8 in UTF-8 mode), and ``INBOX``
is always spelt ``INBOX``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from .reader import StreamedLiteral
from .sequence import SequenceSet


@dataclass(frozen=True, slots=True)
class Command:
    tag: str

    #: The command name as the client would write it (``"UID FETCH"`` for ``Fetch(uid=True)``).
    @property
    def name(self) -> str:
        name = _NAMES.get(type(self).__name__, type(self).__name__.upper())
        return f"UID {name}" if getattr(self, "uid", False) else name


# --- any state (RFC 9051 section 6.1) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capability(Command):
    pass


@dataclass(frozen=True, slots=True)
class Noop(Command):
    pass


@dataclass(frozen=True, slots=True)
class Logout(Command):
    pass


@dataclass(frozen=True, slots=True)
class Id(Command):
    """RFC 2971; ``params`` is ``None`` for ``ID NIL``."""

    params: tuple[tuple[str, str | None], ...] | None = None


# --- not authenticated (RFC 9051 section 6.2) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class StartTls(Command):
    pass


@dataclass(frozen=True, slots=True)
class Authenticate(Command):
    mechanism: str = ""
    #: SASL-IR (RFC 4959): decoded initial response; ``b""`` for "=", ``None`` when absent.
    initial_response: bytes | None = None


@dataclass(frozen=True, slots=True)
class Login(Command):
    username: str = ""
    password: str = field(default="", repr=False)


# --- authenticated (RFC 9051 section 6.3) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enable(Command):
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QresyncParams:
    """``(QRESYNC (uidvalidity modseq [known-uids [(seq-match uid-match)]]))`` (RFC 7162 3.2.5)."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    known_sequence: SequenceSet | None = None
    known_sequence_uids: SequenceSet | None = None


@dataclass(frozen=True, slots=True)
class Select(Command):
    mailbox: str = ""
    #: EXAMINE: the same command, read-only.
    read_only: bool = False
    condstore: bool = False
    qresync: QresyncParams | None = None

    @property
    def name(self) -> str:
        return "EXAMINE" if self.read_only else "SELECT"


@dataclass(frozen=True, slots=True)
class Create(Command):
    mailbox: str = ""
    #: CREATE-SPECIAL-USE (RFC 6154 section 3): ``(USE (\\Drafts))``.
    special_use: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Delete(Command):
    mailbox: str = ""


@dataclass(frozen=True, slots=True)
class Rename(Command):
    mailbox: str = ""
    new_name: str = ""


@dataclass(frozen=True, slots=True)
class Subscribe(Command):
    mailbox: str = ""


@dataclass(frozen=True, slots=True)
class Unsubscribe(Command):
    mailbox: str = ""


@dataclass(frozen=True, slots=True)
class List(Command):
    """LIST with LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and SPECIAL-USE (RFC 6154)."""

    reference: str = ""
    patterns: tuple[str, ...] = ()
    #: Upper-case selection options: SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE.
    selection: tuple[str, ...] = ()
    #: Upper-case return options: SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS, MYRIGHTS ...
    return_options: tuple[str, ...] = ()
    #: Items of ``RETURN (STATUS (...))``.
    status_items: tuple[str, ...] = ()
    #: Any selection or return option was given, or several patterns (extended syntax).
    extended: bool = False


@dataclass(frozen=True, slots=True)
class Lsub(Command):
    reference: str = ""
    pattern: str = ""


@dataclass(frozen=True, slots=True)
class Namespace(Command):
    pass


@dataclass(frozen=True, slots=True)
class Status(Command):
    mailbox: str = ""
    #: Upper-case: MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT.
    items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AppendMessage:
    flags: tuple[str, ...]
    internal_date: datetime | None
    #: Where the octets went: ``AppendData*`` events with this index.
    data: StreamedLiteral
    #: Sent as ``UTF8 (~{n})`` (RFC 6855 section 4): a message with UTF-8 headers.
    utf8: bool = False

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def binary(self) -> bool:
        return self.data.binary


@dataclass(frozen=True, slots=True)
class Append(Command):
    """APPEND, with MULTIAPPEND (RFC 3502) when ``messages`` has more than one."""

    mailbox: str = ""
    messages: tuple[AppendMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class Idle(Command):
    pass


@dataclass(frozen=True, slots=True)
class GetQuota(Command):
    root: str = ""


@dataclass(frozen=True, slots=True)
class GetQuotaRoot(Command):
    mailbox: str = ""


@dataclass(frozen=True, slots=True)
class SetQuota(Command):
    root: str = ""
    #: (resource name upper-case, limit) pairs (RFC 9208 section 4.3).
    resources: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class SetAcl(Command):
    """RFC 4314 section 3.1: ``rights`` may start with "+" or "-" (add/remove)."""

    mailbox: str = ""
    identifier: str = ""
    rights: str = ""


@dataclass(frozen=True, slots=True)
class DeleteAcl(Command):
    mailbox: str = ""
    identifier: str = ""


@dataclass(frozen=True, slots=True)
class GetAcl(Command):
    mailbox: str = ""


@dataclass(frozen=True, slots=True)
class ListRights(Command):
    mailbox: str = ""
    identifier: str = ""


@dataclass(frozen=True, slots=True)
class MyRights(Command):
    mailbox: str = ""


@dataclass(frozen=True, slots=True)
class Compress(Command):
    mechanism: str = "DEFLATE"


# --- selected (RFC 9051 section 6.4) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check(Command):
    pass


@dataclass(frozen=True, slots=True)
class Close(Command):
    pass


@dataclass(frozen=True, slots=True)
class Unselect(Command):
    pass


@dataclass(frozen=True, slots=True)
class Expunge(Command):
    """EXPUNGE, or UID EXPUNGE (RFC 4315 section 2.1) with ``uids``."""

    uids: SequenceSet | None = None

    @property
    def uid(self) -> bool:
        return self.uids is not None


@dataclass(frozen=True, slots=True)
class Section:
    """``[1.2.HEADER.FIELDS (From To)]``: part numbers, then an optional text specifier."""

    part: tuple[int, ...] = ()
    #: HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME, or None (the whole part).
    text: str | None = None
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        out = ".".join(str(n) for n in self.part)
        if self.text:
            out = f"{out}.{self.text}" if out else self.text
        if self.fields:
            out += " (" + " ".join(self.fields) + ")"
        return out


@dataclass(frozen=True, slots=True)
class FetchAttribute:
    """One FETCH item: ``FLAGS``, ``BODY.PEEK[HEADER]<0.100>``, ``BINARY.SIZE[1]`` ..."""

    #: Upper-case item name without section: FLAGS, UID, BODY, BINARY, BINARY.SIZE, RFC822.SIZE ...
    name: str
    section: Section | None = None
    #: ``<start.length>``; length ``None`` when the client gave only a start (not valid IMAP, kept out).
    partial: tuple[int, int] | None = None
    peek: bool = False

    @property
    def response_name(self) -> str:
        """How the FETCH response names the item (RFC 9051 section 7.4.2): no .PEEK, origin only."""
        if self.section is None:
            return self.name
        out = f"{self.name}[{self.section}]"
        if self.partial is not None:
            out += f"<{self.partial[0]}>"
        return out

    @property
    def sets_seen(self) -> bool:
        """BODY[...] and BINARY[...] without .PEEK, RFC822 and RFC822.TEXT set \\Seen (RFC 9051 6.4.5)."""
        if self.name in ("BODY", "BINARY"):
            return self.section is not None and not self.peek
        return self.name in ("RFC822", "RFC822.TEXT")


@dataclass(frozen=True, slots=True)
class Fetch(Command):
    sequence_set: SequenceSet = field(default_factory=lambda: SequenceSet.of(1))
    attributes: tuple[FetchAttribute, ...] = ()
    uid: bool = False
    #: CONDSTORE ``(CHANGEDSINCE n)`` (RFC 7162 section 3.1.4).
    changed_since: int | None = None
    #: QRESYNC ``(VANISHED)`` with CHANGEDSINCE, UID FETCH only (RFC 7162 section 3.2.6).
    vanished: bool = False
    #: ALL, FAST or FULL if the client used a macro (already expanded in ``attributes``).
    macro: str | None = None


@dataclass(frozen=True, slots=True)
class Store(Command):
    sequence_set: SequenceSet = field(default_factory=lambda: SequenceSet.of(1))
    mode: Literal["add", "remove", "replace"] = "replace"
    silent: bool = False
    flags: tuple[str, ...] = ()
    uid: bool = False
    #: CONDSTORE ``(UNCHANGEDSINCE n)`` (RFC 7162 section 3.1.3).
    unchanged_since: int | None = None


@dataclass(frozen=True, slots=True)
class Copy(Command):
    sequence_set: SequenceSet = field(default_factory=lambda: SequenceSet.of(1))
    mailbox: str = ""
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Move(Command):
    sequence_set: SequenceSet = field(default_factory=lambda: SequenceSet.of(1))
    mailbox: str = ""
    uid: bool = False


@dataclass(frozen=True, slots=True)
class SearchKey:
    """One search key; ``and``/``or``/``not`` hold ``keys`` (RFC 9051 section 6.4.4).

    ``op`` is the lower-case key name (``"from"``, ``"since"``, ``"larger"``,
    ``"header"``, ``"uid"``, ``"seqset"`` for a bare sequence set, ``"modseq"`` ...).
    ``value`` is its argument: ``str`` for text keys and keywords, ``date`` for
    date keys, ``int`` for sizes, MODSEQ and OLDER/YOUNGER, ``SequenceSet`` for
    ``uid``/``seqset``. ``field`` is the header name of HEADER; for MODSEQ with
    an entry it is the entry name and ``entry_type`` is priv/shared/all.
    """

    op: str
    value: str | int | date | SequenceSet | None = None
    field: str | None = None
    entry_type: str | None = None
    keys: tuple[SearchKey, ...] = ()


@dataclass(frozen=True, slots=True)
class Search(Command):
    criteria: SearchKey = field(default_factory=lambda: SearchKey("all"))
    charset: str | None = None
    uid: bool = False
    #: ESEARCH ``RETURN (...)`` (RFC 4731, RFC 9051 6.4.4): MIN MAX ALL COUNT SAVE; ``None``
    #: when absent (classic ``* SEARCH`` response), ``()`` for ``RETURN ()`` (means ALL).
    return_options: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Sort(Command):
    """RFC 5256 section 3: ``criteria`` are upper-case keys, ``REVERSE`` applying to the next."""

    sort_criteria: tuple[tuple[str, bool], ...] = ()
    charset: str = "UTF-8"
    criteria: SearchKey = field(default_factory=lambda: SearchKey("all"))
    uid: bool = False
    return_options: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Thread(Command):
    algorithm: str = "REFERENCES"
    charset: str = "UTF-8"
    criteria: SearchKey = field(default_factory=lambda: SearchKey("all"))
    uid: bool = False


_NAMES = {
    "StartTls": "STARTTLS", "GetQuota": "GETQUOTA", "GetQuotaRoot": "GETQUOTAROOT", "SetQuota": "SETQUOTA",
    "SetAcl": "SETACL", "DeleteAcl": "DELETEACL", "GetAcl": "GETACL", "ListRights": "LISTRIGHTS",
    "MyRights": "MYRIGHTS",
}  # fmt: skip
