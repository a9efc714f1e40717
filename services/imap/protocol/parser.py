"""Parsing one framed command into a ``Command`` value (RFC 3501, RFC 9051 section 9).

``parse_command(unit, utf8=..., max_depth=...)`` reads the tag, the command
name (and ``UID``), then hands the rest to ``parse_<command>``; each of those
reads exactly its arguments and the cursor must then be at the end. Anything
else raises ``ParseError``, whose text becomes the ``BAD`` response: the
parser never lets another exception out (the session relies on it, and the
hypothesis tests check it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from . import commands as c
from .errors import ParseError
from .fetch import parse_items
from .reader import CommandUnit
from .search import parse_criteria
from .sequence import SequenceSet
from .tokens import Cursor

Handler = Callable[[Cursor, str, bool], c.Command]

#: Commands that take the ``UID`` prefix (RFC 9051 section 6.4.9, RFC 4315, RFC 6851, RFC 5256).
UID_COMMANDS = frozenset({"COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE", "SORT", "THREAD"})
#: RFC 9051 section 6.3.10 / RFC 9051 section 9 status-att, plus RFC 3501's RECENT and RFC 7162's HIGHESTMODSEQ.
STATUS_ITEMS = frozenset(
    {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT"}
)
SEARCH_RETURN = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})
SORT_KEYS = frozenset({"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"})
LIST_SELECTION = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
LIST_RETURN = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS", "MYRIGHTS"})
# RFC 2971 section 3.3: at most 30 pairs, field names up to 30 octets, values up to 1024.
ID_MAX_PAIRS, ID_MAX_FIELD, ID_MAX_VALUE = 30, 30, 1024


def parse_command(unit: CommandUnit, *, utf8: bool = False, max_depth: int = 100) -> c.Command:
    cursor = Cursor(unit.parts, utf8=utf8, max_depth=max_depth)
    if unit.tag is None:
        raise ParseError("Missing or invalid tag")
    cursor.expect(unit.tag.encode("ascii"), "a tag")
    if not cursor.take(b" "):
        raise ParseError("Missing command")
    name = cursor.atom("a command name").upper() if cursor.peek() is not None else ""
    uid = False
    if name == "UID":
        cursor.sp()
        name = cursor.atom("a command name after UID").upper()
        if name not in UID_COMMANDS:
            raise ParseError(f"UID {name} is not a command")
        uid = True
    handler = HANDLERS.get(name)
    if handler is None:
        raise ParseError(f"Unknown command {name}" if name else "Missing command")
    command = handler(cursor, unit.tag, uid)
    cursor.end()
    return command


# --- any state --------------------------------------------------------------------------


def _no_arguments(cls: type[c.Command]) -> Handler:
    def handle(cursor: Cursor, tag: str, uid: bool) -> c.Command:
        return cls(tag)

    return handle


def parse_id(cursor: Cursor, tag: str, uid: bool) -> c.Id:
    cursor.sp()
    if cursor.take_nil():
        return c.Id(tag, None)
    items = cursor.paren_list(lambda: _id_pair(cursor))
    if len(items) > ID_MAX_PAIRS:
        raise ParseError("Too many ID fields")
    return c.Id(tag, tuple(items))


def _id_pair(cursor: Cursor) -> tuple[str, str | None]:
    field = cursor.string()
    cursor.sp()
    value = cursor.nstring()
    if len(field.encode()) > ID_MAX_FIELD or (value is not None and len(value.encode()) > ID_MAX_VALUE):
        raise ParseError("ID field or value too long")
    return (field, value)


# --- not authenticated ------------------------------------------------------------------


def parse_login(cursor: Cursor, tag: str, uid: bool) -> c.Login:
    cursor.sp()
    user = cursor.astring()
    cursor.sp()
    return c.Login(tag, user, cursor.astring())


def parse_authenticate(cursor: Cursor, tag: str, uid: bool) -> c.Authenticate:
    cursor.sp()
    mechanism = cursor.keyword()
    initial: bytes | None = None
    if cursor.take(b" "):
        # RFC 4959 section 3: initial-response = base64 / "="  ("=" is an empty response).
        initial = b"" if cursor.take(b"=") else decode_base64(cursor.atom("a base64 initial response").encode())
    return c.Authenticate(tag, mechanism, initial)


def decode_base64(data: bytes) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ParseError("Invalid base64") from None


# --- authenticated ----------------------------------------------------------------------


def parse_enable(cursor: Cursor, tag: str, uid: bool) -> c.Enable:
    names = []
    cursor.sp()
    names.append(cursor.keyword())
    while cursor.take(b" "):
        names.append(cursor.keyword())
    return c.Enable(tag, tuple(names))


def _select(read_only: bool) -> Handler:
    def handle(cursor: Cursor, tag: str, uid: bool) -> c.Select:
        cursor.sp()
        mailbox = cursor.mailbox()
        condstore = False
        qresync: c.QresyncParams | None = None
        if cursor.take(b" "):
            for name, value in cursor.paren_list(lambda: _select_param(cursor), allow_empty=False):
                if name == "CONDSTORE":
                    condstore = True
                else:
                    qresync = value
        return c.Select(tag, mailbox, read_only, condstore, qresync)

    return handle


def _select_param(cursor: Cursor) -> tuple[str, c.QresyncParams | None]:
    name = cursor.keyword()
    if name == "CONDSTORE":
        return (name, None)
    if name != "QRESYNC":
        raise ParseError(f"Unknown SELECT parameter {name}")
    cursor.sp()
    cursor.expect(b"(")
    cursor.enter()
    uidvalidity = cursor.number("a UIDVALIDITY", nonzero=True)
    cursor.sp()
    modseq = cursor.number64("a mod-sequence")
    known: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None
    if cursor.take(b" "):
        if cursor.peek() != ord("("):
            known = cursor.sequence_set(allow_saved=False)
            if cursor.take(b" ") or cursor.peek() == ord("("):
                seq_match = _seq_match(cursor)
        else:
            seq_match = _seq_match(cursor)
    cursor.expect(b")")
    cursor.leave()
    params = c.QresyncParams(uidvalidity, modseq, known, *(seq_match or (None, None)))
    return (name, params)


def _seq_match(cursor: Cursor) -> tuple[SequenceSet, SequenceSet]:
    cursor.expect(b"(")
    sequence = cursor.sequence_set(allow_saved=False)
    cursor.sp()
    uids = cursor.sequence_set(allow_saved=False)
    cursor.expect(b")")
    return (sequence, uids)


def parse_create(cursor: Cursor, tag: str, uid: bool) -> c.Create:
    cursor.sp()
    mailbox = cursor.mailbox()
    uses: tuple[str, ...] = ()
    if cursor.take(b" "):
        # RFC 6154 section 3: create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")"
        def create_param() -> tuple[str, ...]:
            if cursor.keyword() != "USE":
                raise ParseError("Unknown CREATE parameter")
            cursor.sp()
            return cursor.flag_list()

        for group in cursor.paren_list(create_param, allow_empty=False):
            uses += group
    return c.Create(tag, mailbox, uses)


def _one_mailbox(cls: type[c.Delete | c.Subscribe | c.Unsubscribe | c.GetQuotaRoot | c.GetAcl | c.MyRights]) -> Handler:
    def handle(cursor: Cursor, tag: str, uid: bool) -> c.Command:
        cursor.sp()
        return cls(tag, cursor.mailbox())

    return handle


def parse_rename(cursor: Cursor, tag: str, uid: bool) -> c.Rename:
    cursor.sp()
    old = cursor.mailbox()
    cursor.sp()
    return c.Rename(tag, old, cursor.mailbox())


def parse_list(cursor: Cursor, tag: str, uid: bool) -> c.List:
    """RFC 5258 section 6 (list-select-opts, list-return-opts), RFC 5819, RFC 6154."""
    cursor.sp()
    selection: list[str] = []
    extended = False
    if cursor.peek() == ord("("):
        extended = True
        selection = cursor.paren_list(cursor.keyword)
        for option in selection:
            if option not in LIST_SELECTION:
                raise ParseError(f"Unknown LIST selection option {option}")
        if "RECURSIVEMATCH" in selection and len(set(selection) - {"RECURSIVEMATCH"}) == 0:
            raise ParseError("RECURSIVEMATCH needs another selection option")
        cursor.sp()
    reference = cursor.mailbox() if not cursor.take(b'""') else ""
    cursor.sp()
    if cursor.peek() == ord("("):
        extended = True
        patterns = tuple(cursor.paren_list(cursor.list_mailbox, allow_empty=False))
    else:
        patterns = (cursor.list_mailbox(),)
    returns: list[str] = []
    status_items: tuple[str, ...] = ()
    if cursor.take(b" "):
        cursor.expect(b"RETURN", "RETURN")
        cursor.sp()
        extended = True

        def return_option() -> str:
            nonlocal status_items
            option = cursor.keyword()
            if option not in LIST_RETURN:
                raise ParseError(f"Unknown LIST return option {option}")
            if option == "STATUS":
                cursor.sp()
                status_items = _status_items(cursor)
            return option

        returns = cursor.paren_list(return_option)
    return c.List(tag, reference, patterns, tuple(selection), tuple(returns), status_items, extended)


def parse_lsub(cursor: Cursor, tag: str, uid: bool) -> c.Lsub:
    cursor.sp()
    reference = cursor.mailbox() if not cursor.take(b'""') else ""
    cursor.sp()
    return c.Lsub(tag, reference, cursor.list_mailbox())


def parse_status(cursor: Cursor, tag: str, uid: bool) -> c.Status:
    cursor.sp()
    mailbox = cursor.mailbox()
    cursor.sp()
    return c.Status(tag, mailbox, _status_items(cursor))


def _status_items(cursor: Cursor) -> tuple[str, ...]:
    items = tuple(cursor.paren_list(cursor.keyword, allow_empty=False))
    for item in items:
        if item not in STATUS_ITEMS:
            raise ParseError(f"Unknown STATUS item {item}")
    return items


def parse_append(cursor: Cursor, tag: str, uid: bool) -> c.Append:
    """``APPEND mailbox 1*(SP [flag-list SP] [date-time SP] append-data)`` (RFC 3502 for more than one).

    append-data is a literal, a literal8 (RFC 3516) or ``UTF8 (literal8)`` (RFC 6855).
    """
    cursor.sp()
    mailbox = cursor.mailbox()
    messages = []
    while cursor.take(b" "):
        flags: tuple[str, ...] = ()
        when = None
        if cursor.peek() == ord("("):
            flags = cursor.flag_list()
            cursor.sp()
        if cursor.peek() == ord('"'):
            when = cursor.date_time()
            cursor.sp()
        if cursor.take(b"UTF8 ("):
            # RFC 6855 section 4: append-data =/ "UTF8" SP "(" literal8 ")"
            if not cursor.utf8:
                raise ParseError("UTF8 message data needs ENABLE UTF8=ACCEPT")
            data = cursor.streamed_literal()
            if not data.binary:
                raise ParseError("UTF8 message data must be a literal8 (~{n})")
            cursor.expect(b")")
            messages.append(c.AppendMessage(flags, when, data, utf8=True))
            continue
        messages.append(c.AppendMessage(flags, when, cursor.streamed_literal()))
    if not messages:
        raise ParseError("APPEND needs a message")
    return c.Append(tag, mailbox, tuple(messages))


def parse_getquota(cursor: Cursor, tag: str, uid: bool) -> c.GetQuota:
    cursor.sp()
    return c.GetQuota(tag, cursor.astring())


def parse_setquota(cursor: Cursor, tag: str, uid: bool) -> c.SetQuota:
    """``SETQUOTA root (STORAGE 512 MESSAGE 100)`` (RFC 9208 section 4.3)."""
    cursor.sp()
    root = cursor.astring()
    cursor.sp()

    def resource() -> tuple[str, int]:
        name = cursor.keyword()
        cursor.sp()
        return (name, cursor.number64("a quota limit"))

    return c.SetQuota(tag, root, tuple(cursor.paren_list(resource)))


#: RFC 4314 section 2.1 rights, and the obsolete "c" and "d" of RFC 2086 (section 2.1.1).
ACL_RIGHTS = frozenset("lrswipkxteacd")


def parse_setacl(cursor: Cursor, tag: str, uid: bool) -> c.SetAcl:
    cursor.sp()
    mailbox = cursor.mailbox()
    cursor.sp()
    identifier = cursor.astring()
    cursor.sp()
    rights = cursor.astring()
    # RFC 4314 section 3.1: an optional "+" or "-", then rights; one not recognised is a BAD.
    unknown = sorted(set(rights[1:] if rights[:1] in ("+", "-") else rights) - ACL_RIGHTS)
    if unknown:
        raise ParseError(f"Unknown right {unknown[0]!r} (rights are lrswipkxtea)")
    return c.SetAcl(tag, mailbox, identifier, rights)


def _mailbox_identifier(cls: type[c.DeleteAcl | c.ListRights]) -> Handler:
    def handle(cursor: Cursor, tag: str, uid: bool) -> c.Command:
        cursor.sp()
        mailbox = cursor.mailbox()
        cursor.sp()
        return cls(tag, mailbox, cursor.astring())

    return handle


def parse_compress(cursor: Cursor, tag: str, uid: bool) -> c.Compress:
    cursor.sp()
    return c.Compress(tag, cursor.keyword())


# --- selected ---------------------------------------------------------------------------


def parse_expunge(cursor: Cursor, tag: str, uid: bool) -> c.Expunge:
    if not uid:
        return c.Expunge(tag)
    cursor.sp()
    return c.Expunge(tag, cursor.sequence_set())


def parse_fetch(cursor: Cursor, tag: str, uid: bool) -> c.Fetch:
    cursor.sp()
    sequence = cursor.sequence_set()
    cursor.sp()
    attributes, macro = parse_items(cursor)
    changed_since: int | None = None
    vanished = False
    if cursor.take(b" "):
        # RFC 7162 section 3.1.4 / 3.2.6: fetch-modifier = "CHANGEDSINCE" SP mod-sequence-valzer / "VANISHED"
        def modifier() -> None:
            nonlocal changed_since, vanished
            name = cursor.keyword()
            if name == "CHANGEDSINCE":
                cursor.sp()
                changed_since = cursor.number64("a mod-sequence")
            elif name == "VANISHED":
                vanished = True
            else:
                raise ParseError(f"Unknown FETCH modifier {name}")

        cursor.paren_list(modifier, allow_empty=False)
        if vanished and (not uid or changed_since is None):
            # RFC 7162 section 3.2.6: VANISHED only with UID FETCH and CHANGEDSINCE.
            raise ParseError("VANISHED needs UID FETCH with CHANGEDSINCE")
    return c.Fetch(tag, sequence, attributes, uid, changed_since, vanished, macro)


def parse_store(cursor: Cursor, tag: str, uid: bool) -> c.Store:
    cursor.sp()
    sequence = cursor.sequence_set()
    cursor.sp()
    unchanged_since: int | None = None
    if cursor.peek() == ord("("):

        def modifier() -> None:
            nonlocal unchanged_since
            if cursor.keyword() != "UNCHANGEDSINCE":
                raise ParseError("Unknown STORE modifier")
            cursor.sp()
            unchanged_since = cursor.number64("a mod-sequence")

        cursor.paren_list(modifier, allow_empty=False)
        cursor.sp()
    mode = "add" if cursor.take(b"+") else "remove" if cursor.take(b"-") else "replace"
    item = cursor.keyword()
    if item not in ("FLAGS", "FLAGS.SILENT"):
        raise ParseError("Expected FLAGS or FLAGS.SILENT")
    cursor.sp()
    if cursor.peek() == ord("("):
        flags = cursor.flag_list()
    else:
        found = [cursor.flag()]
        while cursor.take(b" "):
            found.append(cursor.flag())
        flags = tuple(found)
    if "\\Recent" in flags:
        raise ParseError("\\Recent cannot be stored")
    return c.Store(tag, sequence, mode, item.endswith(".SILENT"), flags, uid, unchanged_since)  # type: ignore[arg-type]


def _copy_like(cls: type[c.Copy | c.Move]) -> Handler:
    def handle(cursor: Cursor, tag: str, uid: bool) -> c.Command:
        cursor.sp()
        sequence = cursor.sequence_set()
        cursor.sp()
        return cls(tag, sequence, cursor.mailbox(), uid)

    return handle


def _search_return(cursor: Cursor) -> tuple[str, ...] | None:
    if not cursor.take(b"RETURN "):
        return None
    options = tuple(cursor.paren_list(cursor.keyword))
    for option in options:
        if option not in SEARCH_RETURN:
            raise ParseError(f"Unknown SEARCH return option {option}")
    cursor.sp()
    return options


def parse_search(cursor: Cursor, tag: str, uid: bool) -> c.Search:
    cursor.sp()
    return_options = _search_return(cursor)
    charset = None
    if cursor.take(b"CHARSET "):
        charset = cursor.astring().upper()
        cursor.sp()
    return c.Search(tag, parse_criteria(cursor), charset, uid, return_options)


def parse_sort(cursor: Cursor, tag: str, uid: bool) -> c.Sort:
    """``SORT [RETURN (...)] (sort-criteria) charset search-criteria`` (RFC 5256 section 3, RFC 5267)."""
    cursor.sp()
    return_options = _search_return(cursor)

    def criterion() -> tuple[str, bool]:
        key = cursor.keyword()
        reverse = key == "REVERSE"
        if reverse:
            cursor.sp()
            key = cursor.keyword()
        if key not in SORT_KEYS:
            raise ParseError(f"Unknown sort key {key}")
        return (key, reverse)

    criteria = cursor.paren_list(criterion, allow_empty=False)
    cursor.sp()
    charset = cursor.astring().upper()
    cursor.sp()
    return c.Sort(tag, tuple(criteria), charset, parse_criteria(cursor), uid, return_options)


def parse_thread(cursor: Cursor, tag: str, uid: bool) -> c.Thread:
    cursor.sp()
    algorithm = cursor.keyword()
    cursor.sp()
    charset = cursor.astring().upper()
    cursor.sp()
    return c.Thread(tag, algorithm, charset, parse_criteria(cursor), uid)


HANDLERS: dict[str, Handler] = {
    "CAPABILITY": _no_arguments(c.Capability),
    "NOOP": _no_arguments(c.Noop),
    "LOGOUT": _no_arguments(c.Logout),
    "ID": parse_id,
    "STARTTLS": _no_arguments(c.StartTls),
    "AUTHENTICATE": parse_authenticate,
    "LOGIN": parse_login,
    "ENABLE": parse_enable,
    "SELECT": _select(False),
    "EXAMINE": _select(True),
    "CREATE": parse_create,
    "DELETE": _one_mailbox(c.Delete),
    "RENAME": parse_rename,
    "SUBSCRIBE": _one_mailbox(c.Subscribe),
    "UNSUBSCRIBE": _one_mailbox(c.Unsubscribe),
    "LIST": parse_list,
    "LSUB": parse_lsub,
    "NAMESPACE": _no_arguments(c.Namespace),
    "STATUS": parse_status,
    "APPEND": parse_append,
    "IDLE": _no_arguments(c.Idle),
    "GETQUOTA": parse_getquota,
    "GETQUOTAROOT": _one_mailbox(c.GetQuotaRoot),
    "SETQUOTA": parse_setquota,
    "SETACL": parse_setacl,
    "DELETEACL": _mailbox_identifier(c.DeleteAcl),
    "GETACL": _one_mailbox(c.GetAcl),
    "LISTRIGHTS": _mailbox_identifier(c.ListRights),
    "MYRIGHTS": _one_mailbox(c.MyRights),
    "COMPRESS": parse_compress,
    "CHECK": _no_arguments(c.Check),
    "CLOSE": _no_arguments(c.Close),
    "UNSELECT": _no_arguments(c.Unselect),
    "EXPUNGE": parse_expunge,
    "FETCH": parse_fetch,
    "STORE": parse_store,
    "COPY": _copy_like(c.Copy),
    "MOVE": _copy_like(c.Move),
    "SEARCH": parse_search,
    "SORT": parse_sort,
    "THREAD": parse_thread,
}
