"""The header fields SEARCH, SORT and THREAD work on, decoded once at delivery.

Addresses and subject are decoded (RFC 2047, UTF-8 header text per RFC 6532);
the base subject follows RFC 5256 section 2.1; the Date header becomes a UTC
datetime (a date without a zone is taken as UTC), or None when unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from services.storage.mime._decoding import collapse_whitespace, decode_header_text, raw_to_text
from services.storage.mime._headers import scan_header
from services.storage.mime._model import DEFAULT_LIMITS, Address, ParsedMessage

# Longest subject text the base-subject rules look at; they are simple prefix/suffix rules
# and a subject that long is not something anyone sorts by its end.
_MAX_SUBJECT = 4096
_MAX_REFERENCES = 500
_MSG_ID = re.compile(r"<[^<>]*>")
_REFERENCES_FIELD = frozenset({b"references"})
# RFC 5256 section 5: subj-blob, subj-refwd and subj-leader (case-insensitive).
_BLOB = re.compile(r"\[[^\[\]]*\] *")
_LEADER = re.compile(r"(?:\[[^\[\]]*\] *)*(?:re|fwd?) *(?:\[[^\[\]]*\] *)?:", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SearchAddress:
    """One address for SEARCH/SORT: decoded display name (or ""), local part and domain as written."""

    name: str
    mailbox: str
    host: str

    @property
    def address(self) -> str:
        return f"{self.mailbox}@{self.host}"

    @property
    def display(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


SearchAddresses = tuple[SearchAddress, ...]


@dataclass(frozen=True, slots=True)
class SearchFields:
    """Decoded header fields of a message, for SEARCH, SORT (RFC 5256) and THREAD."""

    subject: str = ""
    base_subject: str = ""
    from_: SearchAddresses = ()
    to: SearchAddresses = ()
    cc: SearchAddresses = ()
    bcc: SearchAddresses = ()
    sent_date: datetime | None = None
    message_id: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()

    @property
    def from_text(self) -> str:
        return _display(self.from_)

    @property
    def to_text(self) -> str:
        return _display(self.to)

    @property
    def cc_text(self) -> str:
        return _display(self.cc)

    @property
    def bcc_text(self) -> str:
        return _display(self.bcc)

    def columns(self) -> dict[str, Any]:
        """The values of the `messages` table's search columns, by column name."""
        return {
            "subject": self.subject,
            "base_subject": self.base_subject,
            "from_text": self.from_text,
            "to_text": self.to_text,
            "cc_text": self.cc_text,
            "bcc_text": self.bcc_text,
            "sent_date": self.sent_date,
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": " ".join(self.references),
        }

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "subject": self.subject,
            "base_subject": self.base_subject,
            "sent_date": self.sent_date.isoformat() if self.sent_date else None,
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
        }
        for key in ("from_", "to", "cc", "bcc"):
            data[key.rstrip("_")] = [[a.name, a.mailbox, a.host] for a in getattr(self, key)]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchFields:
        sent = data.get("sent_date")
        return cls(
            subject=data.get("subject", ""),
            base_subject=data.get("base_subject", ""),
            from_=_addresses_from(data.get("from")),
            to=_addresses_from(data.get("to")),
            cc=_addresses_from(data.get("cc")),
            bcc=_addresses_from(data.get("bcc")),
            sent_date=datetime.fromisoformat(sent) if sent else None,
            message_id=data.get("message_id", ""),
            in_reply_to=data.get("in_reply_to", ""),
            references=tuple(data.get("references", ())),
        )


def _addresses_from(value: list[list[str]] | None) -> SearchAddresses:
    return tuple(SearchAddress(name, mailbox, host) for name, mailbox, host in value or ())


def _display(addresses: SearchAddresses) -> str:
    return ", ".join(address.display for address in addresses)


def search_fields(parsed: ParsedMessage, raw: bytes) -> SearchFields:
    """The decoded search and sort fields of a message parsed by `parse_message`."""
    envelope = parsed.envelope
    subject = collapse_whitespace(envelope.decoded_subject)
    block = scan_header(
        raw,
        0,
        min(parsed.header_end, len(raw)),
        wanted=_REFERENCES_FIELD,
        max_lines=DEFAULT_LIMITS.max_header_lines,
        max_value=DEFAULT_LIMITS.max_field_bytes,
    )
    return SearchFields(
        subject=subject,
        base_subject=base_subject(subject),
        from_=_search_addresses(envelope.from_),
        to=_search_addresses(envelope.to),
        cc=_search_addresses(envelope.cc),
        bcc=_search_addresses(envelope.bcc),
        sent_date=parse_date(envelope.date),
        message_id=_first_msg_id(envelope.message_id),
        in_reply_to=_first_msg_id(envelope.in_reply_to),
        references=_msg_ids(block.fields.get("references")),
    )


def _search_addresses(addresses: tuple[Address, ...]) -> SearchAddresses:
    return tuple(
        SearchAddress(
            name=collapse_whitespace(address.decoded_name),
            mailbox=raw_to_text(address.mailbox),
            host=raw_to_text(address.host),
        )
        for address in addresses
        if address.mailbox is not None and address.host is not None
    )


def _first_msg_id(value: str | None) -> str:
    if not value:
        return ""
    match = _MSG_ID.search(value)
    return raw_to_text(match.group() if match else value.strip())


def _msg_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    ids = [raw_to_text(match.group()) for match in _MSG_ID.finditer(value)]
    if len(ids) > _MAX_REFERENCES:
        # Keep the first (the thread's root) and the most recent ones, as RFC 5322 section 3.6.4 trims.
        ids = ids[:1] + ids[-(_MAX_REFERENCES - 1) :]
    return tuple(ids)


def parse_date(value: str | None) -> datetime | None:
    """A Date header value as an aware UTC datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(raw_to_text(value[:512]).strip())
        if parsed.tzinfo is None:  # "-0000": the zone is unknown (RFC 5322 section 3.3)
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except Exception:
        return None


def base_subject(subject: str) -> str:
    """The base subject of RFC 5256 section 2.1, from a decoded subject (case preserved)."""
    # Step 1: whitespace runs (tabs, folding) become one space.
    text = collapse_whitespace(subject)[:_MAX_SUBJECT]
    start, end = 0, len(text)
    while True:
        # Step 2: remove trailing "(fwd)" and whitespace.
        while end > start:
            if text[end - 1] == " ":
                end -= 1
            elif end - start >= 5 and text[end - 5 : end].lower() == "(fwd)":
                end -= 5
            else:
                break
        # Steps 3 to 5: remove leading "re:", "fw:", "fwd:" (with blobs) and whitespace, then a
        # leading blob when something other than whitespace is left after it; repeat.
        while True:
            while start < end:
                if text[start] == " ":
                    start += 1
                    continue
                leader = _LEADER.match(text, start, end)
                if leader is None:
                    break
                start = leader.end()
            blob = _BLOB.match(text, start, end)
            # After step 1 whitespace runs are single spaces, so the rest holds a non-space
            # character unless it is empty or one space.
            if blob is not None and (end - blob.end() >= 2 or (end - blob.end() == 1 and text[blob.end()] != " ")):
                start = blob.end()
                continue
            break
        # Step 6: "[fwd: ... ]" around the whole subject: unwrap and start again at step 2.
        if end - start >= 6 and text[start : start + 5].lower() == "[fwd:" and text[end - 1] == "]":
            start, end = start + 5, end - 1
            continue
        return text[start:end]


def decoded_header(value: str | None) -> str:
    """Any raw header value decoded for display or search ("" when absent)."""
    return collapse_whitespace(decode_header_text(value)) if value else ""
