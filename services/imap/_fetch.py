"""FETCH data from stored metadata and byte ranges of the stored blob (RFC 9051 section 6.4.5).

Storage parsed the message once, at delivery, and keeps its part tree with
absolute offsets (`start`, `header_end`, `end` of every part). A section is
therefore a byte range, read with `BlobStore.get_range` and never re-parsed:

    BODY[]            0 .. size                BODY[1.2]       part.header_end .. part.end
    BODY[HEADER]      root.start .. header_end BODY[1.2.MIME]  part.start .. part.header_end
    BODY[TEXT]        header_end .. end        BODY[3.HEADER]  the message/rfc822 part's message

A partial `<start.length>` narrows the range before the read. Only
HEADER.FIELDS (a filter over the header block) and BINARY (RFC 3516: the
part body with its Content-Transfer-Encoding undone) look at the octets.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from libs.blobs import BlobStore
from services.imap._store import MessageData
from services.imap.protocol import FetchAttribute, Section, responses

#: Section data larger than this is streamed from the blob store to the socket, never held.
STREAM_THRESHOLD = 256 * 1024


@dataclass(frozen=True, slots=True)
class BlobRange:
    """Section data to be sent as a literal straight from the blob store: octets [start, end)."""

    blob: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


class UnknownEncoding(Exception):
    """BINARY of a part whose Content-Transfer-Encoding we cannot undo (RFC 3516: NO [UNKNOWN-CTE])."""


#: What each FETCH item needs from storage.
_NEEDS = {
    "FLAGS": ("flags",), "INTERNALDATE": ("internal_date",), "RFC822.SIZE": ("size",),
    "ENVELOPE": ("envelope",), "BODYSTRUCTURE": ("structure",), "BODY": ("structure",),
    "MODSEQ": ("modseq",), "UID": (),
}  # fmt: skip
_SECTION_NEEDS = ("blob", "structure", "size")


def storage_items(attributes: tuple[FetchAttribute, ...]) -> set[str]:
    items: set[str] = {"modseq"}
    for attribute in attributes:
        if attribute.name in _NEEDS and attribute.section is None:
            items.update(_NEEDS[attribute.name])
        else:  # a section of the body: RFC822, RFC822.HEADER/TEXT, BODY[...], BINARY[...]
            items.update(_SECTION_NEEDS)
        if attribute.sets_seen:
            items.add("flags")
    return items


def find_part(root: Mapping[str, Any], numbers: tuple[int, ...]) -> Mapping[str, Any] | None:
    """The part a section number names (RFC 9051 section 6.4.5); a single-part body is part 1."""
    part, at_message_root = root, True
    for number in numbers:
        inner = part.get("message")
        if not at_message_root and inner is not None:
            part, at_message_root = inner, True
        if part.get("type") == "multipart":
            children = part.get("children") or []
            if number > len(children):
                return None
            part, at_message_root = children[number - 1], False
        elif at_message_root and number == 1:
            at_message_root = False
        else:
            return None
    return part


def section_range(structure: Mapping[str, Any], section: Section) -> tuple[int, int] | None:
    """The byte range BODY[section] returns (before partial), None when the section does not exist."""
    root = structure.get("root") or {}
    part = find_part(root, section.part)
    if part is None:
        return None
    text = section.text
    if text is None:
        if not section.part:
            return 0, int(structure.get("size", root.get("end", 0)))
        return int(part["header_end"]), int(part["end"])
    if text == "MIME":
        return int(part["start"]), int(part["header_end"])
    message = part.get("message") if section.part else part
    if message is None:
        return None
    if text.startswith("HEADER"):
        return int(message["start"]), int(message["header_end"])
    return int(message["header_end"]), int(message["end"])  # TEXT


_FIELD = re.compile(rb"([^:\s]+)\s*:")


def filter_header(block: bytes, fields: tuple[str, ...], *, exclude: bool) -> bytes:
    """HEADER.FIELDS (or .NOT): the named fields, folded lines kept, plus the blank line (RFC 9051 6.4.5)."""
    wanted = {f.lower().encode("ascii", "replace") for f in fields}
    out: list[bytes] = []
    keep = False
    for line in block.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line)
            continue
        match = _FIELD.match(line)
        name = match.group(1).lower() if match else b""
        keep = (name in wanted) != exclude and bool(match)
        if keep:
            out.append(line)
    return b"".join(out) + b"\r\n"


def decode_transfer(data: bytes, encoding: str | None) -> bytes:
    """Undo Content-Transfer-Encoding for BINARY (RFC 3516 section 4.2)."""
    cte = (encoding or "7bit").lower()
    if cte in ("7bit", "8bit", "binary"):
        return data
    if cte == "base64":
        try:
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", data) + b"==")
        except (binascii.Error, ValueError):
            raise UnknownEncoding(cte) from None
    if cte == "quoted-printable":
        return quopri.decodestring(data)
    raise UnknownEncoding(cte)


def _partial(data: bytes, partial: tuple[int, int] | None) -> bytes:
    if partial is None:
        return data
    start, length = partial
    return data[start : start + length]


class FetchRenderer:
    """Builds the items of one `* n FETCH (...)` response."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    async def items(
        self, message: MessageData, attributes: tuple[FetchAttribute, ...], *, uid: bool, condstore: bool
    ) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        names = {a.name for a in attributes}
        if uid and "UID" not in names:
            out.append(("UID", message.uid))  # RFC 9051 6.4.9: UID FETCH always returns UID
        for attribute in attributes:
            out.append((attribute.response_name, await self._item(message, attribute)))
        if condstore and "MODSEQ" not in names:
            out.append(("MODSEQ", message.modseq))  # RFC 7162 3.1.4.1 with CHANGEDSINCE or after STORE
        return out

    async def _item(self, message: MessageData, attribute: FetchAttribute) -> Any:
        name = attribute.name
        structure = message.structure or {}
        if name == "UID":
            return message.uid
        if name == "FLAGS":
            return list(message.flags or ())
        if name == "INTERNALDATE":
            return message.internal_date
        if name == "RFC822.SIZE":
            return message.size or 0
        if name == "MODSEQ":
            return message.modseq
        if name == "ENVELOPE":
            return responses.envelope(message.envelope or {})
        if name in ("BODYSTRUCTURE", "BODY") and attribute.section is None:
            return responses.body_structure(with_sizes(structure.get("root") or {}), extensible=name != "BODY")
        if name == "RFC822":
            return await self._range(message, Section(), None)
        if name == "RFC822.HEADER":
            return await self._range(message, Section(text="HEADER"), None)
        if name == "RFC822.TEXT":
            return await self._range(message, Section(text="TEXT"), None)
        section = attribute.section or Section()
        if name == "BODY":
            return await self._range(message, section, attribute.partial)
        # BINARY and BINARY.SIZE: part numbers only (RFC 3516 section 4.1).
        data = await self._binary(message, section)
        if name == "BINARY.SIZE":
            return len(data)
        return responses.Literal(_partial(data, attribute.partial), binary=b"\0" in data)

    async def _range(
        self, message: MessageData, section: Section, partial: tuple[int, int] | None
    ) -> bytes | BlobRange:
        bounds = section_range(message.structure or {}, section)
        if bounds is None or message.blob is None:
            return b""  # RFC 9051 6.4.5: a section that does not exist is empty
        start, end = bounds
        if section.fields:
            block = await self.blobs.get_range(message.blob, start, end)
            return _partial(filter_header(block, section.fields, exclude=section.text == "HEADER.FIELDS.NOT"), partial)
        if partial is not None:
            start, end = min(start + partial[0], end), min(start + partial[0] + partial[1], end)
        if start >= end:
            return b""
        if end - start > STREAM_THRESHOLD:
            return BlobRange(message.blob, start, end)  # written straight from the blob store
        return await self.blobs.get_range(message.blob, start, end)

    async def _binary(self, message: MessageData, section: Section) -> bytes:
        structure = message.structure or {}
        part = find_part(structure.get("root") or {}, section.part)
        if part is None or message.blob is None:
            return b""
        if not section.part or part.get("type") == "multipart" or part.get("message") is not None:
            data = await self._range(message, section, None)  # no transfer encoding to undo
            if isinstance(data, BlobRange):
                return await self.blobs.get_range(data.blob, data.start, data.end)
            return data
        raw = await self.blobs.get_range(message.blob, int(part["header_end"]), int(part["end"]))
        return decode_transfer(raw, part.get("encoding"))


def with_sizes(part: Mapping[str, Any]) -> dict[str, Any]:
    """The storage part tree with `size` (body octets) that BODYSTRUCTURE needs on every part."""
    out = dict(part)
    out["size"] = int(part.get("end", 0)) - int(part.get("header_end", 0))
    if part.get("children"):
        out["children"] = [with_sizes(child) for child in part["children"]]
    if part.get("message"):
        out["message"] = with_sizes(part["message"])
    return out


def render_fetch(sequence_number: int, items: list[tuple[str, object]], *, utf8: bool) -> list[bytes | BlobRange]:
    """A FETCH response as pieces: rendered bytes, and BlobRanges to copy in as literal contents.

    Each item is rendered by the core's serializer (``responses.fetch``) on its own; only
    the literal contents of BlobRange items are left for the caller to stream.
    """
    pieces: list[bytes | BlobRange] = []
    text = b"* %d FETCH (" % sequence_number
    for index, (name, value) in enumerate(items):
        text += b" " if index else b""
        if isinstance(value, BlobRange):
            pieces += [text + name.encode("ascii") + b" {%d}\r\n" % value.size, value]
            text = b""
            continue
        if isinstance(value, bytes) and b"\0" in value and not name.startswith("BINARY"):
            # A stored message with NUL octets (not valid RFC 5322, but stored byte-exact):
            # sent as it is; only BINARY may use literal8 (RFC 3516 section 4.2).
            pieces.append(text + name.encode("ascii") + b" {%d}\r\n" % len(value) + value)
            text = b""
            continue
        one = responses.fetch(sequence_number, [(name, value)]).to_bytes(utf8=utf8)
        text += one[len(b"* %d FETCH (" % sequence_number) : -3]  # the item alone, without "* n FETCH (" and ")\r\n"
    pieces.append(text + b")\r\n")
    return pieces


async def stream_range(blobs: BlobStore, blob_range: BlobRange) -> AsyncIterator[bytes]:
    chunks = blobs.open_stream(blob_range.blob, blob_range.start, blob_range.end)
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
