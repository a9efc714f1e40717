"""ENVELOPE, BODY and BODYSTRUCTURE as IMAP protocol text (RFC 3501 section 9, RFC 9051 section 9).

Strings go out quoted when they are short 7-bit text without CR or LF,
otherwise as literals ({n} CRLF octets); NUL octets cannot appear in
either (CHAR8 excludes them) and are dropped. Media types, parameter
names, encodings and disposition types are written in upper case, as the
RFC's own examples do; values as the message spelled them.
"""

from __future__ import annotations

import string

from services.storage.mime._model import Address, Envelope, Params, ParsedMessage, Part

_MAX_QUOTED = 1024
_QUOTABLE = frozenset(range(1, 128)) - {0x0A, 0x0D}
_NIL = b"NIL"
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_EMPTY_ENVELOPE = Envelope()
# What a multipart with no parsed parts, or a message/rfc822 whose content was not
# parsed, shows as its body: the grammar needs one (Dovecot writes the same).
_EMPTY_BODY = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0)'
_EMPTY_BODY_EXTENSIBLE = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)'


def imap_string(value: str | bytes | None) -> bytes:
    """An nstring: NIL, a quoted string, or a literal."""
    if value is None:
        return _NIL
    if isinstance(value, str):
        try:
            data = value.encode("latin-1")
        except UnicodeEncodeError:
            data = value.encode("utf-8", errors="replace")
    else:
        data = value
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    if len(data) <= _MAX_QUOTED and _QUOTABLE.issuperset(data):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data


def render_envelope(envelope: Envelope | ParsedMessage) -> bytes:
    """The parenthesised ENVELOPE structure (RFC 3501 section 7.4.2) of an envelope or a message."""
    if isinstance(envelope, ParsedMessage):
        envelope = envelope.envelope
    fields = [
        imap_string(envelope.date),
        imap_string(envelope.subject),
        _address_list(envelope.from_),
        _address_list(envelope.sender),
        _address_list(envelope.reply_to),
        _address_list(envelope.to),
        _address_list(envelope.cc),
        _address_list(envelope.bcc),
        imap_string(envelope.in_reply_to),
        imap_string(envelope.message_id),
    ]
    return b"(" + b" ".join(fields) + b")"


def _address_list(addresses: tuple[Address, ...]) -> bytes:
    if not addresses:
        return _NIL
    return b"(" + b"".join(_address(address) for address in addresses) + b")"


def _address(address: Address) -> bytes:
    parts = (address.name, address.adl, address.mailbox, address.host)
    return b"(" + b" ".join(imap_string(part) for part in parts) + b")"


def render_bodystructure(parsed: ParsedMessage | Part, extensible: bool = True) -> bytes:
    """BODYSTRUCTURE (extensible=True) or BODY (extensible=False) of a message or of one part."""
    part = parsed.root if isinstance(parsed, ParsedMessage) else parsed
    return _body(part, extensible)


def _body(part: Part, extensible: bool) -> bytes:
    if part.type == "multipart":
        return _multipart(part, extensible)
    out = [_upper(part.type), _upper(part.subtype), _body_fields(part)]
    if part.type == "message" and part.subtype in ("rfc822", "global"):
        # body-type-msg: the encapsulated envelope and body, then its size in lines.
        out.append(render_envelope(part.envelope or _EMPTY_ENVELOPE))
        if part.message is not None:
            out.append(_body(part.message, extensible))
        else:
            out.append(_EMPTY_BODY_EXTENSIBLE if extensible else _EMPTY_BODY)
        out.append(b"%d" % (part.lines or 0))
    elif part.type == "text":
        out.append(b"%d" % (part.lines or 0))
    if extensible:
        # body-ext-1part: body-fld-md5 SP body-fld-dsp SP body-fld-lang SP body-fld-loc
        out.append(imap_string(part.md5))
        out.extend(_extension_tail(part))
    return b"(" + b" ".join(out) + b")"


def _multipart(part: Part, extensible: bool) -> bytes:
    if part.children:
        bodies = b"".join(_body(child, extensible) for child in part.children)
    else:
        bodies = _EMPTY_BODY_EXTENSIBLE if extensible else _EMPTY_BODY
    out = [bodies + b" " + _upper(part.subtype)]
    if extensible:
        # body-ext-mpart: body-fld-param SP body-fld-dsp SP body-fld-lang SP body-fld-loc
        out.append(_params(part.params))
        out.extend(_extension_tail(part))
    return b"(" + b" ".join(out) + b")"


def _body_fields(part: Part) -> bytes:
    # body-fields: body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
    return b" ".join(
        (
            _params(part.params),
            imap_string(part.id),
            imap_string(part.description),
            _upper(part.encoding or "7bit"),
            b"%d" % part.size,
        )
    )


def _extension_tail(part: Part) -> list[bytes]:
    if part.disposition is None:
        disposition = _NIL
    else:
        disposition = b"(" + _upper(part.disposition) + b" " + _params(part.disposition_params) + b")"
    if not part.language:
        language = _NIL
    elif len(part.language) == 1:
        language = imap_string(part.language[0])
    else:
        language = b"(" + b" ".join(imap_string(tag) for tag in part.language) + b")"
    return [disposition, language, imap_string(part.location)]


def _params(params: Params) -> bytes:
    if not params:
        return _NIL
    return b"(" + b" ".join(_upper(name) + b" " + imap_string(value) for name, value in params) + b")"


def _upper(value: str) -> bytes:
    return imap_string(value.translate(_ASCII_UPPER))
