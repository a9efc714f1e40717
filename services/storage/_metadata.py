"""What storage keeps about a message, computed once at delivery from its raw bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.storage.mime import decoded_header, parse_message, search_fields, text_for_index

_FOLD = re.compile(rb"\r?\n[ \t]+")
MAX_HEADER_TEXT = 256 * 1024


@dataclass(frozen=True)
class Metadata:
    size: int
    envelope: dict[str, Any]
    structure: dict[str, Any]
    subject: str
    base_subject: str
    from_text: str
    to_text: str
    cc_text: str
    bcc_text: str
    sent_date: datetime | None
    message_id: str
    in_reply_to: str
    references: str
    header_text: str
    body_text: str

    def columns(self) -> dict[str, Any]:
        """The StoredMessage columns this metadata fills."""
        return {
            "envelope": self.envelope,
            "structure": self.structure,
            "subject": self.subject,
            "base_subject": self.base_subject,
            "from_text": self.from_text,
            "to_text": self.to_text,
            "cc_text": self.cc_text,
            "bcc_text": self.bcc_text,
            "sent_date": self.sent_date,
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": self.references,
        }


def _addresses(addresses: Any) -> str:
    return ", ".join(a.display for a in addresses)


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


def _db_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; keep the rest as it is.
    return value.replace("\x00", "")


def extract(raw: bytes, *, text_limit: int) -> Metadata:
    parsed = parse_message(raw)
    fields = search_fields(parsed, raw)
    return Metadata(
        size=len(raw),
        envelope=parsed.envelope.to_dict(),
        structure=parsed.to_dict(),
        subject=_db_text(fields.subject),
        base_subject=_db_text(fields.base_subject),
        from_text=_db_text(_addresses(fields.from_)),
        to_text=_db_text(_addresses(fields.to)),
        cc_text=_db_text(_addresses(fields.cc)),
        bcc_text=_db_text(_addresses(fields.bcc)),
        sent_date=fields.sent_date,
        message_id=_db_text(fields.message_id),
        in_reply_to=_db_text(fields.in_reply_to),
        references=_db_text(" ".join(fields.references)),
        header_text=_db_text(header_text(raw, parsed.header_end)),
        body_text=_db_text(text_for_index(parsed, raw, limit=text_limit)) if text_limit else "",
    )
