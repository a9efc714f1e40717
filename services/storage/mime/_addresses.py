"""Address lists (RFC 5322 section 3.4, with the obsolete forms of section 4.4) as IMAP address structures.

Lenient by design: whatever the header holds becomes a list of addresses,
never an error. Names stay raw (encoded words untouched, quotes and escapes
removed), as ENVELOPE wants them; a mailbox written without a domain gets
host "MISSING_DOMAIN" (and an empty local part "MISSING_MAILBOX"), because a
NIL host would mark a group (RFC 3501 section 7.4.2); the convention is
Dovecot's. Groups become a start marker, their members and an end marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.storage.mime._model import Address

MISSING_MAILBOX = "MISSING_MAILBOX"
MISSING_DOMAIN = "MISSING_DOMAIN"
MAX_ADDRESSES = 10_000

_TOKEN = re.compile(
    r"""
      (?P<space>[ \t\r\n]+)
    | (?P<quoted>"(?:[^"\\]|\\.)*(?:"|\\?$))
    | (?P<comment>\()
    | (?P<literal>\[[^\[\]]*\]?)
    | (?P<special>[<>@,;:.])
    | (?P<atom>[^ \t\r\n"()<>@,;:.\[\]]+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "quoted", "comment", "special"
    text: str
    spaced: bool  # whitespace or a comment came before it

    def is_special(self, char: str) -> bool:
        return self.kind == "special" and self.text == char


def _comment(text: str, pos: int) -> tuple[str, int]:
    """A (possibly nested) comment starting at text[pos] == '(': its inner text and the next position."""
    depth = 0
    out: list[str] = []
    start = pos
    length = len(text)
    while pos < length:
        char = text[pos]
        if char == "\\" and pos + 1 < length:
            out.append(text[start:pos])
            start = pos + 1
            pos += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                out.append(text[start:pos])
                return "".join(out)[1:], pos + 1
        pos += 1
    out.append(text[start:pos])
    return "".join(out)[1:], pos


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    spaced = False
    length = len(text)
    while pos < length:
        match = _TOKEN.match(text, pos)
        if match is None:  # not reached: the last alternative matches any character
            break
        kind = match.lastgroup or "other"
        if kind == "space":
            spaced = True
            pos = match.end()
            continue
        if kind == "comment":
            inner, pos = _comment(text, pos)
            tokens.append(_Token("comment", inner, spaced))
            spaced = True
            continue
        value = match.group()
        if kind == "quoted":
            body = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
            tokens.append(_Token("quoted", _QUOTED_PAIR.sub(r"\1", body), spaced))
        elif kind == "special":
            tokens.append(_Token("special", value, spaced))
        else:
            tokens.append(_Token("word", value, spaced))
        spaced = False
        pos = match.end()
    return tokens


def parse_address_list(value: str | None) -> tuple[Address, ...]:
    """A raw address-list header value as IMAP address structures (groups as start/end markers)."""
    if not value:
        return ()
    result: list[Address] = []
    current: list[_Token] = []
    in_angle = False
    in_group = False
    for token in _tokenize(value):
        if len(result) >= MAX_ADDRESSES:
            break
        if token.kind == "special" and not in_angle:
            if token.text == ",":
                _finish_mailbox(current, result)
                current = []
                continue
            if token.text == ":" and not in_group:
                result.append(Address(mailbox=_phrase(current) or ""))
                in_group = True
                current = []
                continue
            if token.text == ";":
                _finish_mailbox(current, result)
                current = []
                if in_group:
                    result.append(Address())
                    in_group = False
                continue
        if token.is_special("<"):
            in_angle = True
        elif token.is_special(">"):
            in_angle = False
        current.append(token)
    _finish_mailbox(current, result)
    if in_group:
        result.append(Address())
    return tuple(result)


def _finish_mailbox(tokens: list[_Token], result: list[Address]) -> None:
    words = [token for token in tokens if token.kind != "comment"]
    if not words:
        return
    opening = next((i for i, token in enumerate(words) if token.is_special("<")), None)
    if opening is not None:
        closing = next((i for i in range(opening + 1, len(words)) if words[i].is_special(">")), len(words))
        name = _phrase(words[:opening])
        inner = words[opening + 1 : closing]
        adl = None
        colon = next((i for i, token in enumerate(inner) if token.is_special(":")), None)
        if colon is not None:  # obs-route: "@a,@b:" before the addr-spec (RFC 5322 section 4.4)
            adl = "".join(token.text for token in inner[:colon]) or None
            inner = inner[colon + 1 :]
        if not inner and not name:
            return  # "<>": no address at all
    else:
        comments = [token.text for token in tokens if token.kind == "comment" and token.text.strip()]
        name = " ".join(comments[-1].split()) if comments else ""
        inner, adl = words, None
    mailbox, host = _addr_spec(inner)
    result.append(Address(name=name or None, adl=adl, mailbox=mailbox, host=host))


def _addr_spec(tokens: list[_Token]) -> tuple[str, str]:
    at = next((i for i in range(len(tokens) - 1, -1, -1) if tokens[i].is_special("@")), None)
    local_tokens, domain_tokens = (tokens, []) if at is None else (tokens[:at], tokens[at + 1 :])
    local = "".join(_local_piece(token) for token in local_tokens)
    if at is None and len(local_tokens) > 1 and any(token.spaced for token in local_tokens[1:]):
        local = _phrase(local_tokens)  # a bare phrase with no address, kept readable
    domain = "".join(token.text for token in domain_tokens if token.kind != "quoted" or token.text)
    return local or MISSING_MAILBOX, domain or MISSING_DOMAIN


def _local_piece(token: _Token) -> str:
    if token.kind == "quoted":
        return '"' + token.text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return token.text


def _phrase(tokens: list[_Token]) -> str:
    """A display name or group name: words joined with one space where the header had space."""
    out: list[str] = []
    for token in tokens:
        if token.kind == "comment":
            continue
        if out and token.spaced:
            out.append(" ")
        out.append(token.text)
    return "".join(out).strip()
