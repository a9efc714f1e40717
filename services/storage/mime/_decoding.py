"""Best-effort decoding: charsets, RFC 2047 encoded words, RFC 2231 values, transfer encodings.

Nothing here raises on bad input: an unknown charset falls back to UTF-8
with replacement characters, a malformed encoded word stays as written.
"""

from __future__ import annotations

import binascii
import codecs
import re
from urllib.parse import unquote_to_bytes

# Charsets that mail declares but that mean something larger in practice
# (the WHATWG encoding standard maps them the same way).
_CHARSET_ALIASES = {
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7",
}

# RFC 2047 section 2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([QqBb])\?([^?\s]*)\?=")
_WHITESPACE = re.compile(r"[ \t\r\n]+")
_NOT_BASE64 = bytes(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def codec_for(charset: str | None) -> str:
    """A Python text codec name for a MIME charset (utf-8 when unknown or not a text codec)."""
    if not charset:
        return "utf-8"
    name = charset.strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return "utf-8"
    if not getattr(info, "_is_text_encoding", True):
        return "utf-8"
    return info.name


def decode_charset(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset to text, never raising (replacement characters instead)."""
    codec = codec_for(charset)
    if codec == "utf-8" or codec == "cp1252":
        # Mislabelled UTF-8 is far more common than real Windows-1252 or ASCII text.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            if codec == "utf-8":
                return data.decode("utf-8", errors="replace")
    try:
        return data.decode(codec, errors="replace")
    except Exception:  # a codec that misbehaves on odd input
        return data.decode("utf-8", errors="replace")


def raw_to_text(raw: str) -> str:
    """A raw header value (latin-1 mapped octets) as text: UTF-8 when it is UTF-8 (RFC 6532), else latin-1."""
    if raw.isascii():
        return raw
    octets = raw.encode("latin-1", errors="replace")
    try:
        return octets.decode("utf-8")
    except UnicodeDecodeError:
        return octets.decode("cp1252", errors="replace")


def decode_header_text(raw: str, *, encoded_words: bool = True) -> str:
    """A raw header value with RFC 2047 encoded words decoded, whitespace between them dropped."""
    text = raw_to_text(raw)
    if not encoded_words or "=?" not in text:
        return text
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset = ""
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[position : match.start()]
        decoded = _decode_word(match)
        if decoded is None:
            continue  # left in place: it goes out with the next gap
        charset, octets = decoded
        # RFC 2047 section 6.2: whitespace between adjacent encoded words is not displayed.
        if gap and not (pending_charset and gap.isspace()):
            out.append(_flush(pending, pending_charset))
            pending = bytearray()
            pending_charset = ""
            out.append(gap)
        if charset != pending_charset and pending_charset:
            out.append(_flush(pending, pending_charset))
            pending = bytearray()
        pending_charset = charset
        pending += octets
        position = match.end()
    out.append(_flush(pending, pending_charset))
    out.append(text[position:])
    return "".join(out)


def _decode_word(match: re.Match[str]) -> tuple[str, bytes] | None:
    charset, encoding, encoded = match.group(1), match.group(2).lower(), match.group(3)
    charset = charset.split("*", 1)[0]  # RFC 2231 section 5: charset*language
    try:
        if encoding == "b":
            octets = decode_base64(encoded.encode("ascii", errors="ignore"))
        else:
            octets = _HEX.sub(
                lambda m: bytes([int(m.group(1), 16)]), encoded.replace("_", " ").encode("latin-1", errors="replace")
            )
    except Exception:
        return None
    return charset.lower(), octets


def _flush(pending: bytearray, charset: str) -> str:
    return decode_charset(bytes(pending), charset) if pending else ""


def decode_rfc2231_value(value: str) -> str:
    """An extended parameter value `charset'language'%XX...` (RFC 2231 section 4) as text."""
    parts = value.split("'", 2)
    if len(parts) != 3:
        return decode_charset(unquote_to_bytes(value), None)
    charset, _language, encoded = parts
    return decode_charset(unquote_to_bytes(encoded), charset or None)


def collapse_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def decode_base64(data: bytes) -> bytes:
    """Lenient base64: characters outside the alphabet are skipped, missing padding supplied."""
    clean = data.translate(None, _NOT_BASE64)
    usable = len(clean) - len(clean) % 4
    tail = clean[usable:]
    result = binascii.a2b_base64(clean[:usable]) if usable else b""
    if len(tail) >= 2:
        result += binascii.a2b_base64(tail + b"=" * (4 - len(tail)))
    return result


def decode_transfer_encoding(data: bytes, encoding: str | None) -> bytes | None:
    """A body decoded from its Content-Transfer-Encoding; None when the encoding is unknown."""
    name = (encoding or "7bit").lower()
    if name in ("7bit", "8bit", "binary"):
        return data
    if name == "base64":
        return decode_base64(data)
    if name == "quoted-printable":
        return binascii.a2b_qp(data)
    return None
