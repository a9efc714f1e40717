"""The lexical pieces of RFC 3261 section 25: tokens, quoted strings, parameters, lists.

Every function works on one header field value that is already unfolded (each
``CRLF 1*WSP`` replaced by a single space), and raises ``GrammarError`` naming
what did not match. Whitespace here is only SP and HTAB.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TypeVar

from .errors import GrammarError

T = TypeVar("T")

ALPHANUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
#: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = ALPHANUM | frozenset("-.!%*_+`'~")
#: word (Call-ID) = token characters plus ( ) < > : \ " / [ ] ? { }
WORD_CHARS = TOKEN_CHARS | frozenset('()<>:\\"/[]?{}')
WSP = " \t"

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_TOKEN_OR_COLON_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~:]+")
_ESCAPE_BYTES_RE = re.compile(rb"%([0-9A-Fa-f]{2})")
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")

#: One generic parameter: (name, value or None). A quoted value keeps its quotes,
#: so the parameter is written back as it came.
Param = tuple[str, str | None]


def text_cache(parse: Callable[[str], T], *, maxsize: int = 4096, longest: int = 512) -> Callable[[str], T]:
    """``parse`` remembering its results for recent texts (up to ``longest`` characters).

    Only for parsers that return immutable values: the same object is handed
    out for the same text. A dialog repeats its From, To, Call-ID and CSeq in
    every request and response, and a proxy reads each Via and Contact again
    when the response comes back, so most values are parsed once instead of
    several times. Failures are not remembered (each bad text raises again),
    and the bound on entries and length keeps the memory bounded whatever
    peers send.
    """
    cached = lru_cache(maxsize=maxsize)(parse)

    @wraps(parse)
    def parse_text(text: str) -> T:
        return cached(text) if len(text) <= longest else parse(text)

    return parse_text


def is_token(text: str) -> bool:
    return _TOKEN_RE.fullmatch(text) is not None


def skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in WSP:
        i += 1
    return i


def read_token(text: str, i: int, what: str) -> tuple[str, int]:
    match = _TOKEN_RE.match(text, i)
    if match is None:
        raise GrammarError(f"Expected {what}")
    return match.group(), match.end()


def read_quoted(text: str, i: int) -> tuple[str, int]:
    """Read a quoted-string at ``text[i] == '"'``; return it with its quotes, and the end.

    quoted-pair = "\\" (%x00-09 / %x0B-0C / %x0E-7F): CR and LF cannot be escaped.
    """
    n = len(text)
    j = i + 1
    while j < n:
        c = text[j]
        if c == '"':
            return text[i : j + 1], j + 1
        if c == "\\":
            if j + 1 >= n or text[j + 1] in "\r\n":
                raise GrammarError("Bad escape in quoted string")
            j += 2
            continue
        if c in "\r\n":
            break
        j += 1
    raise GrammarError("Unterminated quoted string")


def unquote(text: str) -> str:
    """The content of a quoted-string (quotes removed, quoted-pairs resolved); other text as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        i = 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                out.append(inner[i + 1])
                i += 2
            else:
                out.append(inner[i])
                i += 1
        return "".join(out)
    return text


def quote(text: str) -> str:
    """A quoted-string for ``text`` (backslash and double quote escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_escapes(text: str, what: str) -> None:
    """escaped = "%" HEXDIG HEXDIG: a lone ``%`` is not allowed in URI components."""
    if _BAD_ESCAPE_RE.search(text):
        raise GrammarError(f"Bad escape in {what}")


def unescape(text: str) -> str:
    """Resolve %XX escapes (RFC 3261 section 19.1.2); bytes that are not UTF-8 survive as surrogates."""
    if "%" not in text:
        return text
    data = _ESCAPE_BYTES_RE.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8", "surrogateescape"))
    return data.decode("utf-8", "surrogateescape")


def split_list(text: str) -> list[str]:
    """Split a comma-separated header value, respecting quoted strings and ``<...>``.

    Empty elements (``a,,b``) are an error: RFC 3261 section 7.3.1 lists are
    ``1#element`` and the torture test badinv01 checks that ``;;,;,,`` is refused.
    """
    if "," not in text and '"' not in text and text.rfind("<") <= text.rfind(">"):
        # One element and nothing that could hide a comma or stay unterminated: the common case.
        item = text.strip(WSP)
        if not item:
            raise GrammarError("Empty list element")
        return [item]
    items: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            _, i = read_quoted(text, i)
            continue
        if c == "<":
            end = text.find(">", i)
            if end < 0:
                raise GrammarError("Unterminated <")
            i = end + 1
            continue
        if c == ",":
            items.append(text[start:i].strip(WSP))
            start = i + 1
        i += 1
    items.append(text[start:].strip(WSP))
    if any(not item for item in items):
        raise GrammarError("Empty list element")
    return items


def read_params(text: str, i: int, what: str = "parameter", *, colons: bool = False) -> tuple[list[Param], int]:
    """Read ``*( SEMI generic-param )`` from ``i`` to the end of ``text``.

    generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string.
    SEMI and EQUAL allow whitespace on both sides (RFC 3261 section 25.1).
    ``colons`` lets a value contain ``:`` (Via ``received`` holds a bare IPv6address).
    """
    params: list[Param] = []
    n = len(text)
    while True:
        i = skip_ws(text, i)
        if i >= n:
            return params, i
        if text[i] != ";":
            raise GrammarError(f"Unexpected character in {what} list")
        i = skip_ws(text, i + 1)
        name, i = read_token(text, i, f"{what} name")
        j = skip_ws(text, i)
        value: str | None = None
        if j < n and text[j] == "=":
            j = skip_ws(text, j + 1)
            if j < n and text[j] == '"':
                value, j = read_quoted(text, j)
            elif j < n and text[j] == "[":
                end = text.find("]", j)
                if end < 0:
                    raise GrammarError(f"Unterminated IPv6 reference in {what}")
                value, j = text[j : end + 1], end + 1
            elif colons:
                match = _TOKEN_OR_COLON_RE.match(text, j)
                if match is None:
                    raise GrammarError(f"Expected {what} value")
                value, j = match.group(), match.end()
            else:
                value, j = read_token(text, j, f"{what} value")
            i = j
        params.append((name, value))


def format_params(params: tuple[Param, ...] | list[Param]) -> str:
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params)


def find_param(params: tuple[Param, ...] | list[Param], name: str) -> Param | None:
    lowered = name.lower()
    for param in params:
        if param[0].lower() == lowered:
            return param
    return None


def param_value(params: tuple[Param, ...] | list[Param], name: str) -> str | None:
    """The unquoted value of parameter ``name`` (names are case-insensitive); None if absent or valueless."""
    found = find_param(params, name)
    if found is None or found[1] is None:
        return None
    return unquote(found[1])


def read_digits(text: str, what: str, *, maximum: int) -> int:
    """1*DIGIT with an upper bound; huge values are refused before int() sees them."""
    if not text.isascii() or not text.isdigit():
        raise GrammarError(f"Bad {what}")
    stripped = text.lstrip("0") or "0"
    if len(stripped) > len(str(maximum)) or int(stripped) > maximum:
        raise GrammarError(f"{what} out of range")
    return int(stripped)
