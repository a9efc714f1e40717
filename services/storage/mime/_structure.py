"""The part tree of a message, with absolute byte offsets (RFC 2045, RFC 2046, RFC 3501 section 6.4.5).

How it works: an entity is raw[start:end]. Its header is scanned (see
`_headers`); its body is raw[header_end:end]. A multipart body is cut at
its delimiter lines: "--boundary" at the start of a line followed only by
transport padding (a close delimiter adds "--"), found by one compiled
pattern per boundary that the regex engine scans for with a literal-prefix
search, so text that merely mentions the boundary costs no Python work. The
line break before a delimiter belongs to the delimiter (RFC 2046 section
5.1.1), so a child ends before it. Each child is then parsed within its own
range, so an outer boundary always ends an inner part, whatever the inner
part's own boundaries do. A message/rfc822 (or message/global) body is
parsed as a message within the same range.

Work is bounded: each level costs one pass over its range, at most
`max_depth` containers are nested (deeper multiparts and messages are
leaves), at most `max_parts` parts are made, header blocks stop being
interpreted after `max_header_lines` lines (`max_total_header_lines` for
all of them together) and field values are capped.
Anything unexpected ends in a single text/plain part over the whole message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from services.storage.mime._envelope import envelope_from_fields
from services.storage.mime._headers import (
    MESSAGE_FIELDS,
    MIME_FIELDS,
    boundary_of,
    parse_content_type,
    parse_disposition,
    parse_language,
    parse_token,
    scan_header,
)
from services.storage.mime._model import DEFAULT_LIMITS, Envelope, Limits, Params, ParsedMessage, Part

# Transfer encodings under which a message/rfc822 body is itself a message (RFC 2046 section 5.2.1).
_IDENTITY_ENCODINGS = (None, "7bit", "8bit", "binary")
_MESSAGE_SUBTYPES = ("rfc822", "global")
_DEFAULT_TEXT_PARAMS: Params = (("charset", "us-ascii"),)


def parse_message(raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ParsedMessage:
    """Parse a message once, for storage: never raises, bounded work, offsets into `raw`."""
    if not isinstance(raw, bytes):
        raw = bytes(raw)
    try:
        return _Parser(raw, limits).parse()
    except Exception:  # a bug must not lose a delivery: fall back to one opaque text part
        return _fallback(raw)


def _fallback(raw: bytes) -> ParsedMessage:
    size = len(raw)
    root = Part(
        section="",
        start=0,
        header_end=0,
        end=size,
        params=_DEFAULT_TEXT_PARAMS,
        lines=count_lines(raw, 0, size),
    )
    return ParsedMessage(size=size, header_end=0, root=root, envelope=Envelope(), defects=("parse_error",))


def count_lines(raw: bytes, start: int, end: int) -> int:
    """Lines of raw[start:end]: its line feeds, plus one for an unterminated last line."""
    if end <= start:
        return 0
    return raw.count(b"\n", start, end) + (raw[end - 1] != 0x0A)


class _Parser:
    def __init__(self, raw: bytes, limits: Limits) -> None:
        self.raw = raw
        self.limits = limits
        self.parts = 0
        self.header_lines_left = limits.max_total_header_lines
        self.defects: dict[str, None] = {}

    def parse(self) -> ParsedMessage:
        size = len(self.raw)
        root, fields = self._entity(0, size, section="", depth=0, is_message=True, default=("text", "plain"))
        return ParsedMessage(
            size=size,
            header_end=root.header_end,
            root=root,
            envelope=envelope_from_fields(fields),
            defects=tuple(self.defects),
        )

    def _defect(self, name: str) -> None:
        self.defects[name] = None

    def _entity(
        self, start: int, end: int, *, section: str, depth: int, is_message: bool, default: tuple[str, str]
    ) -> tuple[Part, dict[str, str]]:
        raw, limits = self.raw, self.limits
        self.parts += 1
        block = scan_header(
            raw,
            start,
            end,
            wanted=MESSAGE_FIELDS if is_message else MIME_FIELDS,
            max_lines=min(limits.max_header_lines, self.header_lines_left),
            max_value=limits.max_field_bytes,
        )
        self.header_lines_left -= block.lines
        for defect in block.defects:
            self._defect(defect)
        fields = block.fields
        body = block.header_end
        content_type = parse_content_type(fields.get("content-type"))
        params: Params
        if content_type is None:
            # RFC 2045 section 5.2: no (or an unparsable) Content-Type means text/plain; charset=us-ascii,
            # except inside multipart/digest (RFC 2046 section 5.1.5).
            major, minor = default
            params = _DEFAULT_TEXT_PARAMS if default == ("text", "plain") else ()
        else:
            major, minor, params = content_type.type, content_type.subtype, content_type.params
        encoding = parse_token(fields.get("content-transfer-encoding"))
        disposition, disposition_params = parse_disposition(fields.get("content-disposition"))

        children: tuple[Part, ...] = ()
        message: Part | None = None
        envelope: Envelope | None = None
        is_encapsulated = major == "message" and minor in _MESSAGE_SUBTYPES
        descend = depth < limits.max_depth and self.parts < limits.max_parts
        if major == "multipart":
            if descend:
                children = self._multipart(body, end, section=section, depth=depth, params=params, subtype=minor)
            else:
                self._defect("depth_limit" if depth >= limits.max_depth else "part_limit")
        elif is_encapsulated and encoding in _IDENTITY_ENCODINGS:
            if descend:
                # The encapsulated message is this part's body: it has this part's number, unless this
                # part is itself a message's whole (non-multipart) content, whose body is its part 1
                # (RFC 3501 section 6.4.5), e.g. "1" for a top-level message/rfc822.
                inner_section = _child_section(section, 1) if is_message else section
                message, inner_fields = self._entity(
                    body, end, section=inner_section, depth=depth + 1, is_message=True, default=("text", "plain")
                )
                envelope = envelope_from_fields(inner_fields)
            else:
                self._defect("depth_limit" if depth >= limits.max_depth else "part_limit")
        lines = count_lines(raw, body, end) if major == "text" or is_encapsulated else None
        part = Part(
            section=section,
            start=start,
            header_end=body,
            end=end,
            type=major,
            subtype=minor,
            params=params,
            id=fields.get("content-id"),
            description=fields.get("content-description"),
            encoding=encoding,
            md5=fields.get("content-md5"),
            disposition=disposition,
            disposition_params=disposition_params,
            language=parse_language(fields.get("content-language")),
            location=fields.get("content-location"),
            lines=lines,
            children=children,
            message=message,
            envelope=envelope,
        )
        return part, fields

    def _multipart(
        self, body: int, end: int, *, section: str, depth: int, params: tuple[tuple[str, str], ...], subtype: str
    ) -> tuple[Part, ...]:
        default = ("message", "rfc822") if subtype == "digest" else ("text", "plain")
        boundary = boundary_of(params)
        children: list[Part] = []
        if boundary is not None:
            for number, (child_start, child_end) in enumerate(self._delimited(body, end, boundary), 1):
                if self.parts >= self.limits.max_parts:
                    self._defect("part_limit")
                    break
                child, _ = self._entity(
                    child_start,
                    child_end,
                    section=_child_section(section, number),
                    depth=depth + 1,
                    is_message=False,
                    default=default,
                )
                children.append(child)
        if not children:
            # No delimiter at all: the body is one plain part, so BODYSTRUCTURE stays well formed
            # (a multipart needs at least one body) and BODY[<section>.1] still reaches the text.
            self._defect("boundary_not_found")
            self.parts += 1
            children.append(
                Part(
                    section=_child_section(section, 1),
                    start=body,
                    header_end=body,
                    end=end,
                    params=_DEFAULT_TEXT_PARAMS,
                    lines=count_lines(self.raw, body, end),
                )
            )
        return tuple(children)

    def _delimited(self, body: int, end: int, boundary: bytes) -> Iterator[tuple[int, int]]:
        """The (start, end) ranges of the body parts between delimiter lines (RFC 2046 section 5.1.1).

        A delimiter line is "--boundary", or "--boundary--" to close, then only
        transport padding (SP / HT) up to the line break; one regular expression
        per boundary finds them, so lines that merely mention the boundary cost
        no Python work.
        """
        raw = self.raw
        delimiter = b"--" + re.escape(boundary) + rb"(--)?[ \t]*\r?(?=\n|\Z)"
        after_line_break = re.compile(b"\n" + delimiter)
        part_start: int | None = None
        match = re.compile(delimiter).match(raw, body, end) or after_line_break.search(raw, body, end)
        while match is not None:
            if part_start is not None:
                yield part_start, max(part_start, _before_line_break(raw, match.start(), body))
            if match.group(1):
                return
            part_start = min(match.end() + 1, end)
            match = after_line_break.search(raw, match.end(), end)
        self._defect("missing_closing_boundary" if part_start is not None else "boundary_not_found")
        if part_start is not None:
            yield part_start, end


def _before_line_break(raw: bytes, newline: int, body: int) -> int:
    """Where the part before a delimiter ends: before the CRLF (or LF) that starts the delimiter."""
    if newline > body and raw[newline - 1] == 0x0D:
        return newline - 1
    return newline


def _child_section(section: str, number: int) -> str:
    return f"{section}.{number}" if section else str(number)


def find_part(parsed: ParsedMessage, section: str) -> Part | None:
    """The part an IMAP section number names (RFC 3501 section 6.4.5), None when there is none.

    "" is the whole message. A non-multipart message's body is part "1" (the
    root itself is returned). Past a message/rfc822 part, numbers apply to
    the encapsulated message the same way. BODY[<s>] is then
    raw[part.header_end:part.end]; <s>.MIME is raw[part.start:part.header_end];
    for a message/rfc822 part, <s>.HEADER and <s>.TEXT split `part.message`.
    """
    part = parsed.root
    at_message_root = True
    if not section:
        return part
    for piece in section.split("."):
        if not (piece.isascii() and piece.isdigit()) or piece.startswith("0"):
            return None
        number = int(piece)
        if not at_message_root and part.message is not None:
            part, at_message_root = part.message, True
        if part.type == "multipart":
            if number > len(part.children):
                return None
            part, at_message_root = part.children[number - 1], False
        elif at_message_root and number == 1:
            at_message_root = False
        else:
            return None
    return part


_HEADER_SUFFIXES = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT")


def section_range(parsed: ParsedMessage, section: str) -> tuple[int, int] | None:
    """The byte range of raw that BODY[<section>] returns, None when the section does not exist.

    `section` is a section-spec without its field list: "", "HEADER", "TEXT",
    "1.2", "1.2.MIME", "3.HEADER", "3.TEXT", "3.HEADER.FIELDS" (the caller
    filters the header's fields). RFC 3501 section 6.4.5: MIME needs a part
    number; HEADER and TEXT after a part number need a message/rfc822 part.
    """
    pieces = section.split(".") if section else []
    numbers: list[str] = []
    while pieces and pieces[0].isascii() and pieces[0].isdigit():
        numbers.append(pieces.pop(0))
    suffix = ".".join(pieces).upper()
    part = find_part(parsed, ".".join(numbers))
    if part is None:
        return None
    if not suffix:
        return (0, parsed.size) if not numbers else (part.header_end, part.end)
    if suffix == "MIME":
        return (part.start, part.header_end) if numbers else None
    message = part.message if numbers else part
    if message is None:
        return None
    if suffix in _HEADER_SUFFIXES:
        return message.start, message.header_end
    if suffix == "TEXT":
        return message.header_end, message.end
    return None
