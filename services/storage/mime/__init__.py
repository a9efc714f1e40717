"""MIME structure of stored messages, computed once at delivery, for IMAP FETCH, SEARCH and SORT.

Sans-I/O: pure functions on the message octets. `parse_message(raw)` finds
every part with absolute byte offsets, so IMAP serves BODY[<section>],
<section>.HEADER/.MIME/.TEXT and BINARY from byte ranges of the stored blob,
and ENVELOPE / BODY / BODYSTRUCTURE from the stored structure (`to_dict()`
is the JSON kept in the database, `from_dict()` reads it back):

    parsed = parse_message(raw)
    part = find_part(parsed, "1.2")
    raw[part.header_end:part.end]          # BODY[1.2]
    raw[part.start:part.header_end]        # BODY[1.2.MIME]
    start, end = section_range(parsed, "3.HEADER")   # any section-spec as a byte range
    render_bodystructure(parsed)           # b'(("TEXT" "PLAIN" ...) ... "MIXED" ...)'
    render_envelope(parsed.envelope)       # b'("Mon, 7 Feb 1994 ..." ...)'
    search_fields(parsed, raw).columns()   # subject, base_subject, from_text, ...
    text_for_index(parsed, raw)            # decoded text for the full-text index

Offsets and sizes are those of `raw` as stored; IMAP presents messages with
CRLF line endings, so a blob should be stored CRLF-normalised for
RFC822.SIZE and body sizes to match what a client receives.
"""

from services.storage.mime._addresses import parse_address_list
from services.storage.mime._decoding import decode_header_text
from services.storage.mime._envelope import envelope
from services.storage.mime._model import (
    DEFAULT_LIMITS,
    SCHEMA_VERSION,
    Address,
    Envelope,
    Limits,
    ParsedMessage,
    Part,
)
from services.storage.mime._render import imap_string, render_bodystructure, render_envelope
from services.storage.mime._search import (
    SearchAddress,
    SearchFields,
    base_subject,
    decoded_header,
    parse_date,
    search_fields,
)
from services.storage.mime._structure import find_part, parse_message, section_range
from services.storage.mime._text import DEFAULT_INDEX_LIMIT, decoded_body, strip_html, text_for_index

__all__ = [
    "DEFAULT_INDEX_LIMIT",
    "DEFAULT_LIMITS",
    "SCHEMA_VERSION",
    "Address",
    "Envelope",
    "Limits",
    "ParsedMessage",
    "Part",
    "SearchAddress",
    "SearchFields",
    "base_subject",
    "decode_header_text",
    "decoded_body",
    "decoded_header",
    "envelope",
    "find_part",
    "imap_string",
    "parse_address_list",
    "parse_date",
    "parse_message",
    "render_bodystructure",
    "render_envelope",
    "search_fields",
    "section_range",
    "strip_html",
    "text_for_index",
]
