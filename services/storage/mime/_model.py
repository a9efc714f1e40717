"""The parsed shape of a message: what storage keeps in the database, as JSON.

Everything here is a frozen dataclass built from plain values (str, int,
tuples), so `to_dict()` gives JSON-ready data and `from_dict()` rebuilds an
equal object. Raw header values are kept as the message spelled them (the
bytes mapped one to one onto code points U+0000..U+00FF, i.e. latin-1, so
`value.encode("latin-1")` gives the original octets back, less any NUL);
IMAP wants them undecoded. Decoded forms are properties computed on demand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from services.storage.mime._decoding import decode_header_text, decode_rfc2231_value

SCHEMA_VERSION = 1

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Limits:
    """How much work parsing one message may do (see `parse_message`)."""

    max_depth: int = 100  # nested multipart / message levels; deeper containers are leaves
    max_parts: int = 10_000  # parts in the whole tree
    max_header_lines: int = 5_000  # lines interpreted per header block
    max_total_header_lines: int = 100_000  # lines interpreted in all header blocks together
    max_field_bytes: int = 128 * 1024  # octets kept of one header field's value


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Address:
    """One IMAP address structure (RFC 3501 section 7.4.2, "address").

    A group is a start marker (`mailbox` is the group name, `host` None) and
    an end marker (all four None) around its members.
    """

    name: str | None = None
    adl: str | None = None
    mailbox: str | None = None
    host: str | None = None

    @property
    def is_group_start(self) -> bool:
        return self.host is None and self.mailbox is not None

    @property
    def is_group_end(self) -> bool:
        return self.host is None and self.mailbox is None

    @property
    def decoded_name(self) -> str:
        """The display name with RFC 2047 encoded words decoded ("" when there is none)."""
        return decode_header_text(self.name) if self.name else ""

    @property
    def email(self) -> str:
        """`mailbox@host` as written (decoded to text), "" for group markers."""
        if self.host is None or self.mailbox is None:
            return ""
        return decode_header_text(f"{self.mailbox}@{self.host}", encoded_words=False)

    def to_list(self) -> list[str | None]:
        return [self.name, self.adl, self.mailbox, self.host]

    @classmethod
    def from_list(cls, value: list[str | None]) -> Address:
        name, adl, mailbox, host = value
        return cls(name, adl, mailbox, host)


Addresses = tuple[Address, ...]


@dataclass(frozen=True, slots=True)
class Envelope:
    """The fields of an IMAP ENVELOPE (RFC 3501 section 7.4.2), raw as in the header.

    `sender` and `reply_to` already default to `from_` when their header is
    absent or empty, as the RFC requires. An empty tuple renders as NIL.
    """

    date: str | None = None
    subject: str | None = None
    from_: Addresses = ()
    sender: Addresses = ()
    reply_to: Addresses = ()
    to: Addresses = ()
    cc: Addresses = ()
    bcc: Addresses = ()
    in_reply_to: str | None = None
    message_id: str | None = None

    @property
    def decoded_subject(self) -> str:
        return decode_header_text(self.subject) if self.subject else ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key in _ENVELOPE_STRINGS:
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        for key in _ENVELOPE_ADDRESSES:
            value = getattr(self, key)
            if value:
                data[key.rstrip("_")] = [address.to_list() for address in value]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        kwargs: dict[str, Any] = {key: data.get(key) for key in _ENVELOPE_STRINGS}
        for key in _ENVELOPE_ADDRESSES:
            kwargs[key] = tuple(Address.from_list(item) for item in data.get(key.rstrip("_"), ()))
        return cls(**kwargs)


_ENVELOPE_STRINGS = ("date", "subject", "in_reply_to", "message_id")
_ENVELOPE_ADDRESSES = ("from_", "sender", "reply_to", "to", "cc", "bcc")


@dataclass(frozen=True, slots=True)
class Part:
    """One MIME entity and where it lies in the raw message.

    Offsets are absolute: `raw[start:header_end]` is the part's header
    (BODY[<section>.MIME], with the blank line when there is one) and
    `raw[header_end:end]` its body (BODY[<section>]). For a message/rfc822
    part that body is the whole encapsulated message, described by `message`
    (its root part) and `envelope`. Multipart parts have `children`, numbered
    "<section>.1", "<section>.2"... (RFC 3501 section 6.4.5).

    The top-level root has section "". An encapsulated root carries the
    number of the body it is: its message/rfc822 part's section ("2" for
    part 2), or, when that part is itself a message's non-multipart root,
    that message's part 1 ("1" for a top-level message/rfc822, "2.1" for a
    message/rfc822 inside part 2). Its children count from there ("2.1",
    "2.2"...). `find_part` returns the message/rfc822 part for such a number.

    `type`, `subtype`, parameter names, `encoding` and `disposition` are lower
    case; `params` keep RFC 2231 continuations joined (as RFC 2231 section 3
    asks IMAP servers to do) and extended values in their `charset'lang'%XX`
    form; `param()` gives the decoded text. `lines` is set for text/* and
    message/rfc822 (and message/global) parts, as BODYSTRUCTURE needs it.
    """

    section: str
    start: int
    header_end: int
    end: int
    type: str = "text"
    subtype: str = "plain"
    params: Params = ()
    id: str | None = None
    description: str | None = None
    encoding: str | None = None
    md5: str | None = None
    disposition: str | None = None
    disposition_params: Params = ()
    language: tuple[str, ...] = ()
    location: str | None = None
    lines: int | None = None
    children: tuple[Part, ...] = ()
    message: Part | None = None
    envelope: Envelope | None = None

    @property
    def size(self) -> int:
        """Body size in octets (body-fld-octets)."""
        return self.end - self.header_end

    @property
    def content_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    @property
    def is_multipart(self) -> bool:
        return self.type == "multipart"

    @property
    def charset(self) -> str | None:
        value = self.param("charset")
        if value is None:
            return None
        return value.strip().lower() or None

    @property
    def filename(self) -> str | None:
        """The decoded file name (Content-Disposition filename, else Content-Type name)."""
        name = self.param("filename", disposition=True)
        return name if name is not None else self.param("name")

    def param(self, name: str, *, disposition: bool = False) -> str | None:
        """A parameter's decoded value (RFC 2231 charset, else RFC 2047 words), None when absent."""
        return _decoded_param(self.disposition_params if disposition else self.params, name.lower())

    def walk(self) -> Iterator[Part]:
        """This part and every part below it, depth first, encapsulated messages included."""
        stack: list[Part] = [self]
        while stack:
            part = stack.pop()
            yield part
            if part.message is not None:
                stack.append(part.message)
            stack.extend(reversed(part.children))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "section": self.section,
            "start": self.start,
            "header_end": self.header_end,
            "end": self.end,
            "type": self.type,
            "subtype": self.subtype,
        }
        for key in _PART_OPTIONAL_STRINGS:
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.params:
            data["params"] = [list(pair) for pair in self.params]
        if self.disposition_params:
            data["disposition_params"] = [list(pair) for pair in self.disposition_params]
        if self.language:
            data["language"] = list(self.language)
        if self.lines is not None:
            data["lines"] = self.lines
        if self.children:
            data["children"] = [child.to_dict() for child in self.children]
        if self.message is not None:
            data["message"] = self.message.to_dict()
        if self.envelope is not None:
            data["envelope"] = self.envelope.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Part:
        message = data.get("message")
        envelope = data.get("envelope")
        return cls(
            section=data["section"],
            start=data["start"],
            header_end=data["header_end"],
            end=data["end"],
            type=data.get("type", "text"),
            subtype=data.get("subtype", "plain"),
            params=_params_from(data.get("params")),
            disposition_params=_params_from(data.get("disposition_params")),
            language=tuple(data.get("language", ())),
            lines=data.get("lines"),
            children=tuple(cls.from_dict(child) for child in data.get("children", ())),
            message=cls.from_dict(message) if message is not None else None,
            envelope=Envelope.from_dict(envelope) if envelope is not None else None,
            **{key: data.get(key) for key in _PART_OPTIONAL_STRINGS},
        )


_PART_OPTIONAL_STRINGS = ("id", "description", "encoding", "md5", "disposition", "location")


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """A whole message: its size, where its body starts, its part tree and envelope.

    `defects` names what was wrong or cut short while parsing (for logs and
    metrics; the structure is usable either way), e.g. "missing_closing_boundary",
    "depth_limit", "part_limit", "header_line_limit", "no_header_separator".
    """

    size: int
    header_end: int
    root: Part
    envelope: Envelope
    defects: tuple[str, ...] = ()

    def walk(self) -> Iterator[Part]:
        return self.root.walk()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "size": self.size,
            "header_end": self.header_end,
            "root": self.root.to_dict(),
            "envelope": self.envelope.to_dict(),
        }
        if self.defects:
            data["defects"] = list(self.defects)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParsedMessage:
        version = data.get("v", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(f"unsupported parsed-message schema version {version!r}")
        return cls(
            size=data["size"],
            header_end=data["header_end"],
            root=Part.from_dict(data["root"]),
            envelope=Envelope.from_dict(data.get("envelope", {})),
            defects=tuple(data.get("defects", ())),
        )


def _params_from(value: list[list[str]] | None) -> Params:
    return tuple((name, val) for name, val in value) if value else ()


def _decoded_param(params: Params, name: str) -> str | None:
    extended = name + "*"
    for key, value in params:
        if key == extended:
            return decode_rfc2231_value(value)
    for key, value in params:
        if key == name:
            return decode_header_text(value)
    return None
