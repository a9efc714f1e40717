"""name-addr and addr-spec values: From, To, Contact, Route, Record-Route, Reply-To ...

RFC 3261 section 20.10 and 25.1:

    name-addr    = [ display-name ] LAQUOT addr-spec RAQUOT
    display-name = *(token LWS) / quoted-string
    from-spec    = ( name-addr / addr-spec ) *( SEMI from-param )

Without angle brackets, everything after the URI's first ``;`` is a header
parameter, and a URI with ``?`` (headers) or ``,`` must be in brackets -- so
``Contact: sip:u@h?Route=...`` is refused (RFC 4475 regbadct). Whitespace
inside the brackets is refused too (RFC 4475 badaspec).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import GrammarError
from .grammar import (
    TOKEN_CHARS,
    WSP,
    Param,
    find_param,
    format_params,
    param_value,
    read_params,
    read_quoted,
    skip_ws,
    text_cache,
    unquote,
)
from .uri import SipUri, Uri, parse_uri


@dataclass(frozen=True, slots=True)
class NameAddr:
    """An address with optional display name (as written: quoted or tokens) and header parameters."""

    uri: Uri
    display_name: str | None = None
    params: tuple[Param, ...] = ()
    #: True when the value was (or must be written) in ``<...>``.
    bracketed: bool = True

    def __str__(self) -> str:
        needs_brackets = self.bracketed or self.display_name is not None or _needs_brackets(self.uri)
        if not needs_brackets:
            return f"{self.uri}{format_params(self.params)}"
        display = f"{self.display_name} " if self.display_name else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"

    @property
    def display(self) -> str | None:
        """The display name with quotes and escapes removed."""
        return None if self.display_name is None else unquote(self.display_name)

    @property
    def tag(self) -> str | None:
        return param_value(self.params, "tag")

    def param(self, name: str) -> str | None:
        return param_value(self.params, name)

    def has_param(self, name: str) -> bool:
        return find_param(self.params, name) is not None

    def with_tag(self, tag: str) -> NameAddr:
        params = tuple(p for p in self.params if p[0].lower() != "tag") + (("tag", tag),)
        return NameAddr(self.uri, self.display_name, params, self.bracketed)

    @property
    def q(self) -> float | None:
        """Contact q-value (RFC 3261 section 20.10): 0 to 1, up to three decimals."""
        value = self.param("q")
        if value is None:
            return None
        try:
            q = float(value)
        except ValueError:
            return None
        return q if 0.0 <= q <= 1.0 else None

    @property
    def expires(self) -> int | None:
        """Contact expires parameter in seconds (values over 2**32-1 read as 2**32-1)."""
        value = self.param("expires")
        if value is None or not value.isascii() or not value.isdigit():
            return None
        return min(int(value[:12]), 2**32 - 1)


def _needs_brackets(uri: Uri) -> bool:
    return isinstance(uri, SipUri) and bool(uri.params or uri.headers) or "," in str(uri) or "?" in str(uri)


@text_cache
def parse_name_addr(text: str) -> NameAddr:
    """Parse one ``( name-addr / addr-spec ) *( SEMI generic-param )`` value."""
    n = len(text)
    i = skip_ws(text, 0)
    if i >= n:
        raise GrammarError("Empty address")
    display: str | None = None
    if text[i] == '"':
        display, i = read_quoted(text, i)
        i = skip_ws(text, i)
        if i >= n or text[i] != "<":
            raise GrammarError("Expected < after display name")
    else:
        j = i
        while j < n and (text[j] in TOKEN_CHARS or text[j] in WSP):
            j += 1
        if j < n and text[j] == "<":
            words = text[i:j].split()
            display = " ".join(words) if words else None
            i = j
    if i < n and text[i] == "<":
        end = text.find(">", i)
        if end < 0:
            raise GrammarError("Unterminated <")
        inner = text[i + 1 : end]
        if not inner or inner[0] in WSP or inner[-1] in WSP:
            raise GrammarError("Whitespace inside <>")
        uri = parse_uri(inner)
        params, _ = read_params(text, end + 1, "header parameter")
        return NameAddr(uri, display, tuple(params), True)
    if "<" in text[i:].split(";")[0]:
        raise GrammarError("Bad display name")
    j = i
    while j < n and text[j] not in WSP and text[j] != ";":
        j += 1
    uri_text = text[i:j]
    if "?" in uri_text or "," in uri_text or "<" in uri_text or ">" in uri_text:
        raise GrammarError("URI with headers must be enclosed in <>")
    uri = parse_uri(uri_text)
    params, _ = read_params(text, j, "header parameter")
    return NameAddr(uri, None, tuple(params), False)
