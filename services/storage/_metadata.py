"""What storage keeps about a message, computed once at delivery from its raw bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from services.storage.mime import decoded_header, parse_message, search_fields, text_for_index

_FOLD = re.compile(rb"\r?\n[ \t]+")
MAX_HEADER_TEXT = 256 * 1024


@dataclass(frozen=True)
class Metadata:
    size: int
    envelope: dict[str, Any]
    structure: dict[str, Any]
    search: dict[str, Any]  # the messages table's search columns (SearchFields.columns())
    header_text: str
    body_text: str

    def columns(self) -> dict[str, Any]:
        """The StoredMessage columns this metadata fills."""
        return {"envelope": self.envelope, "structure": self.structure, **self.search}


def header_text(raw: bytes, header_end: int) -> str:
    """All header fields, unfolded and RFC 2047-decoded, one per line: the TEXT search's header half."""
    block = _FOLD.sub(b" ", raw[: min(header_end, MAX_HEADER_TEXT)])
    lines = []
    for line in block.splitlines():
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        text_value = value.strip().decode("utf-8", errors="replace")
        lines.append(f"{name.decode('latin-1').strip()}: {decoded_header(text_value)}")
    return "\n".join(lines)


def _db_text(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL; everything else is kept as it is.
    return value.replace("\x00", "") if isinstance(value, str) else value


def extract(raw: bytes, *, text_limit: int) -> Metadata:
    parsed = parse_message(raw)
    fields = search_fields(parsed, raw)
    return Metadata(
        size=len(raw),
        envelope=parsed.envelope.to_dict(),
        structure=parsed.to_dict(),
        search={name: _db_text(value) for name, value in fields.columns().items()},
        header_text=_db_text(header_text(raw, parsed.header_end)),
        body_text=_db_text(text_for_index(parsed, raw, limit=text_limit)) if text_limit else "",
    )
