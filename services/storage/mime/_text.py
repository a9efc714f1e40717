"""Decoded bodies: BINARY (RFC 3516) octets, and the plain text a full-text index needs."""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterator

from services.storage.mime._decoding import decode_charset, decode_transfer_encoding
from services.storage.mime._model import ParsedMessage, Part

DEFAULT_INDEX_LIMIT = 1_000_000
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# Whitespace runs: one with a line break becomes "\n", any other " ". Only runs that
# change are matched (not the single spaces between words, nor a lone "\n" once CRLF
# is one), and the replacements are plain strings: no Python callback per run.
_BREAKS = re.compile(r"[ \t\f\v\r]+\n[ \t\f\v\r\n]*|\n[ \t\f\v\r\n]+")
_BLANKS = re.compile(r"[\t\f\v\r][ \t\f\v\r]*| [ \t\f\v\r]+")
# Every run that changes has one of these (after CRLF became LF); substring tests are
# far quicker than a regular expression scan, so text without them is left alone.
_RUNS_TO_COLLAPSE = ("\t", "\f", "\v", "\r", "  ", " \n", "\n ", "\n\n")
# Encoded octets per character of text at most: quoted-printable (3) of 4-octet UTF-8.
_OCTETS_PER_CHAR = 12


def decoded_body(raw: bytes, part: Part) -> bytes | None:
    """A part's body with its Content-Transfer-Encoding undone (BINARY[<section>]); None if unknown."""
    return decode_transfer_encoding(raw[part.header_end : part.end], part.encoding)


def text_for_index(parsed: ParsedMessage, raw: bytes, *, limit: int = DEFAULT_INDEX_LIMIT) -> str:
    """The text of a message's text/* parts, decoded, HTML tags stripped, at most `limit` characters.

    In a multipart/alternative only the text/plain version is taken when
    there is one. Text inside attached messages counts too. Each part reads
    at most a bounded slice of the blob, so the work is bounded by `limit`.
    """
    pieces: list[str] = []
    remaining = limit
    for part in _text_parts(parsed.root):
        if remaining <= 0:
            break
        stop = min(part.end, part.header_end + remaining * _OCTETS_PER_CHAR + 64)
        body = raw[part.header_end : stop]
        data = decode_transfer_encoding(body, part.encoding)
        text = decode_charset(body if data is None else data, part.charset)
        if part.subtype == "html":
            text = strip_html(text)
        text = collapse_spaces(text).strip()[:remaining]
        if text:
            pieces.append(text)
            remaining -= len(text) + 1
    return "\n".join(pieces)[:limit]


def collapse_spaces(text: str) -> str:
    text = text.replace("\r\n", "\n")
    if not any(pair in text for pair in _RUNS_TO_COLLAPSE):  # common: words, single spaces, line ends
        return text
    return _BLANKS.sub(" ", _BREAKS.sub("\n", text))


def _text_parts(root: Part) -> Iterator[Part]:
    stack = [root]
    while stack:
        part = stack.pop()
        if part.message is not None:
            stack.append(part.message)
        elif part.children:
            children = part.children
            if part.subtype == "alternative":
                plain = [child for child in children if child.type == "text" and child.subtype == "plain"]
                children = tuple(plain[:1]) or children
            stack.extend(reversed(children))
        elif part.type == "text":
            yield part


def strip_html(text: str) -> str:
    """Crude HTML to text: tags, comments, scripts and styles dropped, entities decoded; linear time."""
    lower = text.translate(_ASCII_LOWER)  # same length as text, unlike str.lower()
    out: list[str] = []
    pos = 0
    length = len(text)
    while pos < length:
        opening = text.find("<", pos)
        if opening < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:opening])
        out.append(" ")
        if lower.startswith("<!--", opening):
            close = text.find("-->", opening + 4)
            pos = length if close < 0 else close + 3
            continue
        for element in ("script", "style"):
            if lower.startswith("<" + element, opening):
                close = lower.find("</" + element, opening)
                opening = length if close < 0 else close
                break
        closing = text.find(">", opening)
        pos = length if closing < 0 else closing + 1
    return html.unescape("".join(out))
