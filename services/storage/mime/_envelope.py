"""ENVELOPE data from a message header (RFC 3501 section 7.4.2, RFC 9051 section 7.5.2)."""

from __future__ import annotations

from services.storage.mime._addresses import parse_address_list
from services.storage.mime._headers import MESSAGE_FIELDS, scan_header
from services.storage.mime._model import DEFAULT_LIMITS, Envelope, Limits, ParsedMessage


def envelope(parsed: ParsedMessage, raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """The ENVELOPE of a message, read again from its header (equal to `parsed.envelope`)."""
    block = scan_header(
        raw,
        0,
        min(parsed.header_end, len(raw)),
        wanted=MESSAGE_FIELDS,
        max_lines=limits.max_header_lines,
        max_value=limits.max_field_bytes,
    )
    return envelope_from_fields(block.fields)


def envelope_from_fields(fields: dict[str, str]) -> Envelope:
    """The envelope of a header whose fields were scanned into `fields` (raw values, lower-case names)."""
    from_ = parse_address_list(fields.get("from"))
    # RFC 3501 section 7.4.2: "If the Sender or Reply-To lines are absent in the
    # [RFC-2822] header, or are present but empty, the server sets the
    # corresponding member of the envelope to be the same value as the from member".
    sender = parse_address_list(fields.get("sender")) or from_
    reply_to = parse_address_list(fields.get("reply-to")) or from_
    return Envelope(
        date=fields.get("date") or None,
        subject=fields.get("subject"),
        from_=from_,
        sender=sender,
        reply_to=reply_to,
        to=parse_address_list(fields.get("to")),
        cc=parse_address_list(fields.get("cc")),
        bcc=parse_address_list(fields.get("bcc")),
        in_reply_to=fields.get("in-reply-to") or None,
        message_id=fields.get("message-id") or None,
    )
