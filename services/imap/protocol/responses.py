"""IMAP server responses (RFC 9051 section 7) and how values are written on the wire.

A response is a value; ``to_bytes(utf8=...)`` renders it. Whether the client
has enabled UTF-8 (``ENABLE UTF8=ACCEPT`` or ``IMAP4rev2``, RFC 6855 / RFC
9051 section 6.3.1) changes two things only: mailbox names are sent as UTF-8
rather than modified UTF-7, and a string with 8-bit characters may be quoted
rather than sent as a literal.

Python values map to IMAP data like this:

========================  ==========================================================
``None``                  ``NIL``
``int``                   number
``str`` / ``bytes``       string: quoted when it can be, else ``{n}`` literal
``Atom("\\Seen")``        written as is (flags, keywords, response item names)
``Mailbox("Entwürfe")``   a mailbox name, encoded for the client, as an atom when it can be
``AString("Fred")``       an ``astring``: an atom when it can be, else a string
``Literal(b"...")``       always a literal; ``binary=True`` gives ``~{n}`` literal8
``SequenceSet``           its text (``1:3,5``)
``list`` / ``tuple``      parenthesised list of the above, space separated
========================  ==========================================================

Strings are quoted unless they hold CR, LF, NUL, 8-bit octets outside UTF-8
mode, or are longer than ``QUOTED_MAX``; then they become literals. NUL can
only travel in a literal8 (RFC 3516), so a text string with NUL is a caller bug.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Union

from . import mutf7
from .bodystructure import Joined
from .bodystructure import body_structure as body_structure  # re-exported for the service layer
from .bodystructure import envelope as envelope
from .errors import LocalProtocolError
from .sequence import SequenceSet

CRLF = b"\r\n"
QUOTED_MAX = 1024
_ATOM = re.compile(rb"[!#$&'+-Z^-z|}~]+|\\[A-Za-z0-9$]+")  # ATOM-CHAR, or a flag "\Word"
_TAG = re.compile(r"[!#$&',-Z\[\]^-z|}~]+")  # RFC 9051 section 9: ASTRING-CHAR except "+"
_TEXT_FORBIDDEN = re.compile(r"[\r\n\0]")
_ASTRING_ATOM = re.compile(rb"[!#$&'+-Z\[\]^-z|}~]+")  # 1*ASTRING-CHAR


class Atom(str):
    """A string written as is: flags, keywords, item names, capabilities."""

    __slots__ = ()


class AString(str):
    """An ``astring`` (RFC 9051 section 9): written as an atom when it is one, else as a string.

    ``NIL`` and the empty string are always quoted, so no client mistakes them for NIL.
    """

    __slots__ = ()


class Mailbox(AString):
    """A mailbox name (Unicode); encoded as modified UTF-7 unless the client is in UTF-8 mode."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Literal:
    data: bytes
    #: ``~{n}``: may carry NUL and any octet (RFC 3516 section 4.3, BINARY FETCH).
    binary: bool = False


class _Nil:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NIL"


NIL = _Nil()

Value = Union[None, int, str, bytes, Atom, Mailbox, Literal, SequenceSet, _Nil, "list[Any]", "tuple[Any, ...]"]


# --- values ----------------------------------------------------------------------------


def encode_value(value: Any, *, utf8: bool = False) -> bytes:
    """One value as IMAP bytes; raises ``LocalProtocolError`` for something unrepresentable."""
    if value is None or value is NIL:
        return b"NIL"
    if isinstance(value, bool):
        raise LocalProtocolError("booleans have no IMAP representation")
    if isinstance(value, int):
        if value < 0:
            raise LocalProtocolError(f"IMAP numbers are unsigned: {value}")
        return b"%d" % value
    if isinstance(value, Atom):
        raw = value.encode("utf-8")
        if not _ATOM.fullmatch(raw) and not _is_response_atom(raw):
            raise LocalProtocolError(f"not an atom: {value!r}")
        return raw
    if isinstance(value, Mailbox):
        name = str(value)
        if name.upper() == "INBOX":
            name = "INBOX"
        return encode_astring(name if utf8 else mutf7.encode(name), utf8=utf8)
    if isinstance(value, AString):
        return encode_astring(str(value), utf8=utf8)
    if isinstance(value, str | bytes):
        return encode_string(value, utf8=utf8)
    if isinstance(value, Literal):
        return encode_literal(value.data, binary=value.binary)
    if isinstance(value, SequenceSet):
        return str(value).encode("ascii")
    if isinstance(value, datetime):
        return b'"' + format_datetime(value).encode("ascii") + b'"'
    if isinstance(value, Joined):
        return b"".join(encode_value(item, utf8=utf8) for item in value)
    if isinstance(value, list | tuple):
        return b"(" + b" ".join(encode_value(item, utf8=utf8) for item in value) + b")"
    raise LocalProtocolError(f"cannot encode {type(value).__name__} as IMAP data")


def _is_response_atom(raw: bytes) -> bool:
    # Item names such as BODY[HEADER.FIELDS (TO)]<0> and BINARY.SIZE[1] carry
    # brackets and parentheses; they are the server's own text, never client data.
    return bool(raw) and not any(c in raw for c in b'\r\n\0"{') and b" " not in raw.split(b"[", 1)[0]


def encode_astring(value: str, *, utf8: bool = False) -> bytes:
    raw = value.encode("utf-8")
    if _ASTRING_ATOM.fullmatch(raw) and raw.upper() != b"NIL":
        return raw
    return encode_string(raw, utf8=utf8)


def encode_string(value: str | bytes, *, utf8: bool = False) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if b"\0" in raw:
        raise LocalProtocolError("NUL cannot be sent in a string; use Literal(binary=True)")
    if len(raw) > QUOTED_MAX or b"\r" in raw or b"\n" in raw or not _quotable_8bit(raw, utf8=utf8):
        return encode_literal(raw)
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _quotable_8bit(raw: bytes, *, utf8: bool) -> bool:
    if raw.isascii():
        return True
    if not utf8:
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def encode_literal(data: bytes, *, binary: bool = False) -> bytes:
    if b"\0" in data and not binary:
        raise LocalProtocolError("NUL needs a literal8 (binary=True)")
    return (b"~" if binary else b"") + b"{%d}\r\n" % len(data) + data


def format_datetime(value: datetime) -> str:
    """``date-time`` (RFC 9051 section 9): ``"07-Feb-1994 21:52:25 -0800"``."""
    if value.tzinfo is None:
        raise LocalProtocolError("INTERNALDATE needs an aware datetime")
    offset = value.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    month = _MONTHS[value.month - 1]
    return f"{value.day:2d}-{month}-{value.year:04d} {value:%H:%M:%S} {sign}{minutes // 60:02d}{minutes % 60:02d}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- response codes --------------------------------------------------------------------

#: Response codes this server may send: RFC 9051 section 7.1, RFC 5530, and extensions.
KNOWN_CODES = frozenset(
    {
        # RFC 3501 / RFC 9051
        "ALERT", "BADCHARSET", "CAPABILITY", "PARSE", "PERMANENTFLAGS", "READ-ONLY", "READ-WRITE",
        "TRYCREATE", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "UIDNOTSTICKY", "APPENDUID", "COPYUID",
        "HASCHILDREN", "CLOSED", "UNKNOWN-CTE",
        # RFC 5530
        "UNAVAILABLE", "AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED", "PRIVACYREQUIRED",
        "CONTACTADMIN", "NOPERM", "INUSE", "EXPUNGEISSUED", "CORRUPTION", "SERVERBUG", "CLIENTBUG",
        "CANNOT", "LIMIT", "OVERQUOTA", "ALREADYEXISTS", "NONEXISTENT",
        # RFC 7162 CONDSTORE/QRESYNC, RFC 5182 SEARCHRES, RFC 7889 APPENDLIMIT, RFC 4978
        "HIGHESTMODSEQ", "NOMODSEQ", "MODIFIED", "NOTSAVED", "TOOBIG", "COMPRESSIONACTIVE",
        # RFC 6154 SPECIAL-USE, RFC 5465 NOTIFY, RFC 8474 OBJECTID
        "USEATTR", "MAILBOXID",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ResponseCode:
    """``[NAME args]``; ``args`` is text written as is, or a value (``[BADCHARSET (UTF-8)]``)."""

    name: str
    args: Any = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Z][A-Z0-9-]*", self.name):
            raise LocalProtocolError(f"invalid response code {self.name!r}")

    def to_bytes(self, *, utf8: bool = False) -> bytes:
        out = self.name.encode("ascii")
        if self.args is None:
            return b"[" + out + b"]"
        if isinstance(self.args, str) and not isinstance(self.args, Mailbox):
            if _TEXT_FORBIDDEN.search(self.args) or "]" in self.args:
                raise LocalProtocolError(f"response code text must not contain ']', CR, LF: {self.args!r}")
            arg = self.args.encode("utf-8")
        elif isinstance(self.args, list | tuple) and self.name in ("CAPABILITY", "PERMANENTFLAGS", "BADCHARSET"):
            arg = encode_value([Atom(a) for a in self.args], utf8=utf8)
            if self.name == "CAPABILITY":
                arg = arg[1:-1]
        else:
            arg = encode_value(self.args, utf8=utf8)
        return b"[" + out + b" " + arg + b"]"


def code(name: str, args: Any = None) -> ResponseCode:
    return ResponseCode(name, args)


# --- responses -------------------------------------------------------------------------


class Response:
    """Base of every response; ``to_bytes(utf8=...)`` gives the wire form with CRLF."""

    __slots__ = ()

    def to_bytes(self, *, utf8: bool = False) -> bytes:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class StatusResponse(Response):
    """``tag OK [code] text``; tag ``None`` means untagged (``* OK``, ``* BYE``, ``* PREAUTH``)."""

    status: str
    text: str
    tag: str | None = None
    code: ResponseCode | None = None

    def __post_init__(self) -> None:
        if self.status not in ("OK", "NO", "BAD", "BYE", "PREAUTH"):
            raise LocalProtocolError(f"invalid status {self.status!r}")
        if self.tag is not None and (self.status in ("BYE", "PREAUTH") or not _TAG.fullmatch(self.tag)):
            raise LocalProtocolError(f"invalid tag {self.tag!r} for {self.status}")
        if _TEXT_FORBIDDEN.search(self.text):
            raise LocalProtocolError(f"response text must not contain CR, LF or NUL: {self.text!r}")

    @property
    def tagged(self) -> bool:
        return self.tag is not None

    def to_bytes(self, *, utf8: bool = False) -> bytes:
        out = (self.tag or "*").encode("ascii") + b" " + self.status.encode("ascii")
        if self.code is not None:
            out += b" " + self.code.to_bytes(utf8=utf8)
        # RFC 9051 section 9: resp-text = ["[" resp-text-code "]" SP] [text]; text is 1*TEXT-CHAR,
        # but many clients expect something after the status, so an empty text is never sent.
        return out + b" " + (self.text or "done").encode("utf-8") + CRLF


@dataclass(frozen=True, slots=True)
class Untagged(Response):
    """``* item item ...``: each item is a value (atoms for keywords, numbers, lists ...)."""

    items: tuple[Any, ...]

    def to_bytes(self, *, utf8: bool = False) -> bytes:
        return b"* " + b" ".join(encode_value(item, utf8=utf8) for item in self.items) + CRLF


@dataclass(frozen=True, slots=True)
class Continuation(Response):
    """``+ text`` (literal or IDLE), or ``+ base64`` for a SASL challenge (RFC 9051 section 7.5)."""

    text: str = "Ready"
    challenge: bytes | None = None

    def to_bytes(self, *, utf8: bool = False) -> bytes:
        if self.challenge is not None:
            return b"+ " + base64.b64encode(self.challenge) + CRLF
        if _TEXT_FORBIDDEN.search(self.text):
            raise LocalProtocolError("continuation text must not contain CR, LF or NUL")
        return b"+ " + self.text.encode("utf-8") + CRLF


def ok(text: str, *, tag: str | None = None, code: ResponseCode | None = None) -> StatusResponse:
    return StatusResponse("OK", text, tag, code)


def no(text: str, *, tag: str | None = None, code: ResponseCode | None = None) -> StatusResponse:
    return StatusResponse("NO", text, tag, code)


def bad(text: str, *, tag: str | None = None, code: ResponseCode | None = None) -> StatusResponse:
    return StatusResponse("BAD", text, tag, code)


def bye(text: str, *, code: ResponseCode | None = None) -> StatusResponse:
    return StatusResponse("BYE", text, None, code)


def preauth(text: str, *, code: ResponseCode | None = None) -> StatusResponse:
    return StatusResponse("PREAUTH", text, None, code)


def untagged(*items: Any) -> Untagged:
    return Untagged(tuple(items))


# --- server data (RFC 9051 section 7.2 - 7.5) ---------------------------------------------


def capability(capabilities: Iterable[str]) -> Untagged:
    return untagged(Atom("CAPABILITY"), *(Atom(c) for c in capabilities))


def enabled(names: Iterable[str]) -> Untagged:
    return untagged(Atom("ENABLED"), *(Atom(n) for n in names))


def exists(count: int) -> Untagged:
    return untagged(count, Atom("EXISTS"))


def recent(count: int) -> Untagged:
    return untagged(count, Atom("RECENT"))


def expunge(sequence_number: int) -> Untagged:
    return untagged(sequence_number, Atom("EXPUNGE"))


def flags(names: Iterable[str]) -> Untagged:
    return untagged(Atom("FLAGS"), [Atom(f) for f in names])


def vanished(uids: SequenceSet, *, earlier: bool = False) -> Untagged:
    """``* VANISHED (EARLIER) 1:3`` (RFC 7162 section 3.2.10)."""
    if earlier:
        return untagged(Atom("VANISHED"), [Atom("EARLIER")], uids)
    return untagged(Atom("VANISHED"), uids)


def search(numbers: Iterable[int], *, modseq: int | None = None) -> Untagged:
    """``* SEARCH 2 3 6`` with ``(MODSEQ n)`` when CONDSTORE asked (RFC 7162 section 3.1.5)."""
    items: list[Any] = [Atom("SEARCH"), *numbers]
    if modseq is not None:
        items.append([Atom("MODSEQ"), modseq])
    return Untagged(tuple(items))


def sort(numbers: Iterable[int], *, modseq: int | None = None) -> Untagged:
    items: list[Any] = [Atom("SORT"), *numbers]
    if modseq is not None:
        items.append([Atom("MODSEQ"), modseq])
    return Untagged(tuple(items))


def esearch(
    *,
    tag: str | None,
    uid: bool,
    min: int | None = None,
    max: int | None = None,
    all: SequenceSet | None = None,
    count: int | None = None,
    modseq: int | None = None,
) -> Untagged:
    """``* ESEARCH (TAG "a") UID MIN 2 COUNT 3`` (RFC 4731 section 3.1, RFC 9051 section 7.3.4)."""
    items: list[Any] = [Atom("ESEARCH")]
    if tag is not None:
        items.append([Atom("TAG"), tag])
    if uid:
        items.append(Atom("UID"))
    for name, value in (("MIN", min), ("MAX", max), ("ALL", all), ("COUNT", count), ("MODSEQ", modseq)):
        if value is not None:
            items.extend((Atom(name), value))
    return Untagged(tuple(items))


def thread(threads: Sequence[Any]) -> Untagged:
    """``* THREAD (2)(3 6 (4 23)(44 7 96))`` (RFC 5256 section 4): each thread a nested list of ints."""
    return _Thread(tuple(threads))


@dataclass(frozen=True, slots=True)
class _Thread(Untagged):
    def to_bytes(self, *, utf8: bool = False) -> bytes:
        return b"* THREAD" + b"".join(b" " * (i == 0) + _thread_node(t) for i, t in enumerate(self.items)) + CRLF


def _thread_node(node: Any) -> bytes:
    if isinstance(node, int):
        return b"(%d)" % node
    out = bytearray(b"(")
    for i, item in enumerate(node):
        if isinstance(item, int):
            out += (b" " if i else b"") + b"%d" % item
        else:
            # thread-members SP thread-nested; nested threads follow each other directly.
            out += (b" " if i and isinstance(node[i - 1], int) else b"") + _thread_node(item)
    return bytes(out) + b")"


def list_mailbox(
    name: str,
    *,
    attributes: Iterable[str] = (),
    delimiter: str | None = "/",
    extended: Mapping[str, Any] | None = None,
    command: str = "LIST",
) -> Untagged:
    """``* LIST (\\HasNoChildren) "/" INBOX`` with extended data such as CHILDINFO or OLDNAME
    (RFC 5258 section 3.5, RFC 9051 section 7.3.1)."""
    items: list[Any] = [Atom(command), [Atom(a) for a in attributes], delimiter, Mailbox(name)]
    if extended:
        items.append([item for key, value in extended.items() for item in (key, value)])
    return Untagged(tuple(items))


def status(mailbox: str, items: Mapping[str, int]) -> Untagged:
    """``* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)``."""
    return untagged(Atom("STATUS"), Mailbox(mailbox), [v for k, n in items.items() for v in (Atom(k), n)])


def namespace(personal: Any, other: Any = None, shared: Any = None) -> Untagged:
    """Each argument: ``None`` or a list of ``(prefix, delimiter)`` pairs (RFC 2342)."""

    def part(entries: Any) -> Any:
        return None if not entries else [[prefix, delim] for prefix, delim in entries]

    return untagged(Atom("NAMESPACE"), part(personal), part(other), part(shared))


def quota(root: str, resources: Mapping[str, tuple[int, int]]) -> Untagged:
    """``* QUOTA "" (STORAGE 10 512)``: resource -> (usage, limit); STORAGE in KiB (RFC 9208)."""
    return untagged(Atom("QUOTA"), AString(root), [v for k, (u, lim) in resources.items() for v in (Atom(k), u, lim)])


def quotaroot(mailbox: str, roots: Iterable[str]) -> Untagged:
    return untagged(Atom("QUOTAROOT"), Mailbox(mailbox), *(AString(root) for root in roots))


def acl(mailbox: str, entries: Iterable[tuple[str, str]]) -> Untagged:
    """``* ACL INBOX Fred rwipslxetad`` (RFC 4314 section 3.6)."""
    pairs = (AString(v) for ident, rights in entries for v in (ident, rights))
    return untagged(Atom("ACL"), Mailbox(mailbox), *pairs)


def listrights(mailbox: str, identifier: str, required: str, optional: Iterable[str]) -> Untagged:
    rights = (AString(r) for r in (identifier, required, *optional))
    return untagged(Atom("LISTRIGHTS"), Mailbox(mailbox), *rights)


def myrights(mailbox: str, rights: str) -> Untagged:
    return untagged(Atom("MYRIGHTS"), Mailbox(mailbox), AString(rights))


def id_response(params: Mapping[str, str | None] | None) -> Untagged:
    """``* ID ("name" "Parley")`` or ``* ID NIL`` (RFC 2971)."""
    if not params:
        return untagged(Atom("ID"), None)
    return untagged(Atom("ID"), [v for k, val in params.items() for v in (k, val)])


def fetch(sequence_number: int, items: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> Untagged:
    """``* 12 FETCH (FLAGS (\\Seen) UID 4827313 BODY[TEXT] {5}...)``.

    ``items`` pairs an item name as the response spells it (``FetchAttribute.response_name``)
    with its value: ``FLAGS`` as a list of flag names, ``INTERNALDATE`` as an aware
    ``datetime``, ``ENVELOPE`` from ``envelope()``, ``BODYSTRUCTURE`` from
    ``body_structure()``, section data as ``bytes`` (or ``Literal``), ``MODSEQ`` as an int.
    """
    pairs = items.items() if isinstance(items, Mapping) else items
    data: list[Any] = []
    for name, value in pairs:
        data.append(Atom(name))
        if name.upper() == "FLAGS":
            value = [Atom(flag) for flag in value]
        elif name.upper() == "MODSEQ" and isinstance(value, int):
            value = [value]  # RFC 7162 section 3.1.4.1: MODSEQ (n)
        elif name.upper() == "INTERNALDATE" and isinstance(value, datetime):
            value = format_datetime(value)
        elif name.upper().startswith(("BODY[", "BINARY[", "RFC822")) and isinstance(value, bytes):
            value = Literal(value, binary=name.upper().startswith("BINARY[") and b"\0" in value)
        data.append(value)
    return untagged(sequence_number, Atom("FETCH"), data)


@dataclass(frozen=True, slots=True)
class Raw(Response):
    """A response already rendered (e.g. a FETCH line built elsewhere); must end with CRLF."""

    data: bytes = field(default=b"")

    def to_bytes(self, *, utf8: bool = False) -> bytes:
        if not self.data.endswith(CRLF):
            raise LocalProtocolError("a raw response must end with CRLF")
        return self.data
