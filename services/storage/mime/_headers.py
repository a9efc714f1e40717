"""Header blocks: where they end, and the few fields the structure needs.

How a header block is read (RFC 5322 section 2.2, RFC 2045):

- Lines end at LF; a CR before it belongs to the line ending, so CRLF and
  bare-LF messages give the same fields.
- The block ends after the first empty line (the body starts after it). A
  line that is neither a field (`name:`) nor a continuation (starts with
  SP/HT) also ends it, without a separator: the body starts at that line,
  as Python's `email` package does. No empty line at all: the whole range
  is header and the body is empty.
- Only wanted fields are kept, first occurrence wins, each value capped;
  after `max_lines` lines (0: none at all) the rest of the block is skipped
  with one search for the empty line, so a header of millions of lines
  costs no Python loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.storage.mime._decoding import decode_rfc2231_value

# Printable ASCII except ":" (RFC 5322 section 3.6.8), and, leniently, 8-bit octets.
_FIELD_NAME = re.compile(rb"[^\x00-\x20\x7f:]+")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_EMPTY_LINE = re.compile(rb"\r?\n")
_MAX_NAME = 256

# Fields read from a MIME entity's header (RFC 2045, 2183, 3282, 2557, 1864).
MIME_FIELDS = frozenset(
    {
        b"content-type",
        b"content-transfer-encoding",
        b"content-id",
        b"content-description",
        b"content-disposition",
        b"content-language",
        b"content-location",
        b"content-md5",
    }
)
# Fields of a message header that ENVELOPE and SEARCH/SORT need.
MESSAGE_FIELDS = MIME_FIELDS | {
    b"date",
    b"subject",
    b"from",
    b"sender",
    b"reply-to",
    b"to",
    b"cc",
    b"bcc",
    b"in-reply-to",
    b"message-id",
    b"references",
}


@dataclass(slots=True)
class HeaderBlock:
    """A scanned header: where the body starts, lines read, and the wanted fields (raw, unfolded, latin-1)."""

    header_end: int
    lines: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)


def scan_header(
    raw: bytes,
    start: int,
    end: int,
    *,
    wanted: frozenset[bytes],
    max_lines: int,
    max_value: int,
) -> HeaderBlock:
    """Find where the header of the entity in raw[start:end] ends and pick the wanted fields."""
    block = HeaderBlock(header_end=end)
    values: dict[bytes, list[bytes]] = {}
    current: list[bytes] | None = None
    room = 0
    pos = start
    lines = 0
    while pos < end:
        if lines >= max_lines:
            block.defects.append("header_line_limit")
            block.header_end = _after_blank_line(raw, pos, end, at_line_start=lines == 0)
            break
        lines += 1
        newline = raw.find(b"\n", pos, end)
        next_line = end if newline < 0 else newline + 1
        content_end = end if newline < 0 else newline
        if content_end > pos and raw[content_end - 1] == 0x0D:
            content_end -= 1
        if content_end == pos:
            block.header_end = next_line
            break
        first = raw[pos]
        if first == 0x20 or first == 0x09:
            if current is not None and room > 0:
                piece = raw[pos : min(content_end, pos + room)]
                current.append(piece)
                room -= len(piece)
            pos = next_line
            continue
        current = None
        colon = raw.find(b":", pos, min(content_end, pos + _MAX_NAME))
        name = raw[pos:colon].rstrip(b" \t") if colon > pos else b""
        if not name or not _FIELD_NAME.fullmatch(name):
            if lines == 1 and raw.startswith(b"From ", pos):
                pos = next_line  # an mbox "From " separator line
                continue
            block.defects.append("no_header_separator")
            block.header_end = pos
            break
        name = name.lower()
        if name in wanted and name not in values:
            room = max_value
            piece = raw[colon + 1 : min(content_end, colon + 1 + room)]
            current = values[name] = [piece]
            room -= len(piece)
        pos = next_line
    block.lines = lines
    for name, pieces in values.items():
        block.fields[name.decode("ascii")] = b"".join(pieces).replace(b"\x00", b"").strip(b" \t").decode("latin-1")
    return block


def _after_blank_line(raw: bytes, pos: int, end: int, *, at_line_start: bool) -> int:
    """Where the body starts, found without reading lines: after the first empty line from pos on."""
    if at_line_start:
        leading = _EMPTY_LINE.match(raw, pos, end)
        if leading:
            return leading.end()
        match = _BLANK_LINE.search(raw, pos, end)
    else:
        match = _BLANK_LINE.search(raw, pos - 1, end)  # pos - 1 is the line feed ending the last line read
    return match.end() if match else end


# --- structured field values (RFC 2045 section 5.1, RFC 2183, RFC 2231) ---------------------

_TOKEN = re.compile(r"[^\s()<>@,;:\\\"/\[\]?=]+")
_SPACE = re.compile(r"[ \t\r\n]*")
_SECTION = re.compile(r"^(.*?)\*(\d{1,3})(\*?)$")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)(?:"|\\?$)', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def _skip_cfws(text: str, pos: int) -> int:
    """Skip whitespace and (nested) comments."""
    length = len(text)
    while pos < length:
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= length or text[pos] != "(":
            return pos
        depth = 0
        while pos < length:
            char = text[pos]
            if char == "\\":
                pos += 2
                continue
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0:
                    pos += 1
                    break
            pos += 1
    return pos


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """A quoted-string starting at text[pos] == '"': its unescaped content and the next position."""
    match = _QUOTED.match(text, pos)
    if match is None:  # not reached: the pattern matches whatever follows a '"'
        return text[pos + 1 :], len(text)
    return _QUOTED_PAIR.sub(r"\1", match.group(1)), match.end()


def _value(text: str, pos: int) -> tuple[str, int]:
    """A parameter value: quoted-string or token (leniently: anything up to ';')."""
    pos = _skip_cfws(text, pos)
    if pos < len(text) and text[pos] == '"':
        return _quoted(text, pos)
    stop = text.find(";", pos)
    stop = len(text) if stop < 0 else stop
    return text[pos:stop].strip(), stop


def parse_params(text: str, pos: int) -> tuple[tuple[str, str], ...]:
    """`*(";" attribute "=" value)` from text[pos:], RFC 2231 continuations joined.

    Names are lower-cased; the first occurrence of a name wins. A value
    assembled from extended (`*`) sections keeps the `name*` key and the
    `charset'language'%XX` form, as RFC 2231 section 3 asks IMAP servers to
    present it; a plain one keeps the `name` key.
    """
    raw_params: list[tuple[str, str]] = []
    length = len(text)
    while pos < length:
        semicolon = text.find(";", pos)
        if semicolon < 0:
            break
        pos = _skip_cfws(text, semicolon + 1)
        match = _TOKEN.match(text, pos)
        if not match:
            continue
        name = match.group().lower()
        pos = _skip_cfws(text, match.end())
        if pos >= length or text[pos] != "=":
            continue
        value, pos = _value(text, pos + 1)
        raw_params.append((name, value))
        if len(raw_params) >= 200:
            break
    return _join_continuations(raw_params)


def _join_continuations(raw_params: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    order: list[str] = []
    plain: dict[str, str] = {}
    for name, value in raw_params:
        match = _SECTION.match(name)
        if match:
            base, number, extended = match.group(1), int(match.group(2)), bool(match.group(3))
            if base not in sections:
                sections[base] = {}
                order.append(base)
            sections[base].setdefault(number, (value, extended))
        elif name.endswith("*"):
            base = name[:-1]
            if base not in sections:
                sections[base] = {0: (value, True)}
                order.append(base)
        elif name not in plain:
            plain[name] = value
            order.append(name)
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in order:
        if name in seen:
            continue
        seen.add(name)
        if name not in sections:
            result.append((name, plain[name]))
            continue
        pieces = [sections[name][number] for number in sorted(sections[name])]
        if any(extended for _, extended in pieces):
            result.append((name + "*", _join_extended(pieces)))
        else:
            result.append((name, "".join(value for value, _ in pieces)))
    return tuple(result)


def _join_extended(pieces: list[tuple[str, bool]]) -> str:
    """Join RFC 2231 sections into one `charset'lang'%XX` value (plain sections get %-escaped)."""
    first, first_extended = pieces[0]
    if first_extended and first.count("'") >= 2:
        charset, language, encoded = first.split("'", 2)
        head = f"{charset}'{language}'"
    else:
        head, encoded = "''", (first if first_extended else _percent_escape(first))
    out = [head, encoded]
    for value, extended in pieces[1:]:
        out.append(value if extended else _percent_escape(value))
    return "".join(out)


def _percent_escape(value: str) -> str:
    safe = []
    for char in value:
        if char.isascii() and (char.isalnum() or char in "!#$&+-.^_`|~"):
            safe.append(char)
        else:
            safe.extend(f"%{byte:02X}" for byte in char.encode("latin-1", errors="replace"))
    return "".join(safe)


@dataclass(frozen=True, slots=True)
class ContentType:
    type: str
    subtype: str
    params: tuple[tuple[str, str], ...]


def parse_content_type(value: str | None) -> ContentType | None:
    """`type "/" subtype *(";" parameter)`; None when absent or unparsable (RFC 2045 section 5.2 default applies)."""
    if value is None:
        return None
    pos = _skip_cfws(value, 0)
    major = _TOKEN.match(value, pos)
    if not major:
        return None
    pos = _skip_cfws(value, major.end())
    if pos >= len(value) or value[pos] != "/":
        return None
    minor = _TOKEN.match(value, _skip_cfws(value, pos + 1))
    if not minor:
        return None
    return ContentType(major.group().lower(), minor.group().lower(), parse_params(value, minor.end()))


def parse_disposition(value: str | None) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """Content-Disposition (RFC 2183): the lower-cased type and its parameters."""
    if value is None:
        return None, ()
    match = _TOKEN.match(value, _skip_cfws(value, 0))
    if not match:
        return None, ()
    return match.group().lower(), parse_params(value, match.end())


def parse_token(value: str | None) -> str | None:
    """The first token of a field such as Content-Transfer-Encoding, lower-cased."""
    if value is None:
        return None
    match = _TOKEN.match(value, _skip_cfws(value, 0))
    return match.group().lower() if match else None


def parse_language(value: str | None) -> tuple[str, ...]:
    """Content-Language (RFC 3282): the language tags, comments dropped."""
    if not value:
        return ()
    tags: list[str] = []
    pos = 0
    while pos < len(value) and len(tags) < 50:
        pos = _skip_cfws(value, pos)
        match = _TOKEN.match(value, pos)
        if match:
            tags.append(match.group())
            pos = match.end()
        else:
            pos += 1
    return tuple(tags)


def boundary_of(params: tuple[tuple[str, str], ...]) -> bytes | None:
    """The multipart boundary as octets, None when absent, empty or absurdly long."""
    for name, value in params:
        if name == "boundary":
            octets = value.encode("latin-1", errors="replace")
            break
        if name == "boundary*":
            octets = decode_rfc2231_value(value).encode("utf-8")
            break
    else:
        return None
    # RFC 2046 section 5.1.1: 1 to 70 characters, none of them CR or LF.
    if not octets or len(octets) > 200 or b"\n" in octets or b"\r" in octets:
        return None
    return octets
