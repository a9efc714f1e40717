"""SIP, SIPS and tel URIs (RFC 3261 section 19.1, RFC 3966), and any other URI as opaque text.

Components are kept as written, escapes included, so a URI is written back
exactly; ``unescaped`` accessors resolve the escapes (RFC 3261 section
19.1.2). Any other scheme (``isbn:``, ``http:``, ``soap.beep:``) parses as an
``AbsoluteUri``: the grammar allows it everywhere a URI may appear, and
whether it is acceptable (416 Unsupported URI Scheme) is the element's choice.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from .errors import GrammarError
from .grammar import Param, check_escapes, find_param, format_params, read_digits, text_cache, unescape

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()%"
#: user = 1*( unreserved / escaped / user-unreserved ), user-unreserved = & = + $ , ; ? /
_USER_RE = re.compile(rf"[{_UNRESERVED}&=+$,;?/]+")
#: password = *( unreserved / escaped / & = + $ , )
_PASSWORD_RE = re.compile(rf"[{_UNRESERVED}&=+$,]*")
#: paramchar = param-unreserved / unreserved / escaped, param-unreserved = [ ] / : & + $
_PARAMCHARS_RE = re.compile(rf"[{_UNRESERVED}\[\]/:&+$]+")
#: hname / hvalue: hnv-unreserved = [ ] / ? : + $
_HNAME_RE = re.compile(rf"[{_UNRESERVED}\[\]/?:+$]+")
_HVALUE_RE = re.compile(rf"[{_UNRESERVED}\[\]/?:+$]*")
# Host names: RFC 3261 allows alphanum and "-" in labels; "_" is accepted too
# (it appears in real deployments' host names and harms nothing).
_LABEL_RE = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_\-]*[A-Za-z0-9_])?")
_PHONEDIGITS_RE = re.compile(r"[0-9\-.()]*[0-9][0-9\-.()]*")
_LOCAL_PHONE_RE = re.compile(r"[0-9A-Fa-f*#\-.()]*[0-9A-Fa-f*#][0-9A-Fa-f*#\-.()]*")
_TEL_PNAME_RE = re.compile(r"[A-Za-z0-9\-]+")
_TEL_PVALUE_RE = re.compile(rf"[{_UNRESERVED}\[\]/:&+$]+")


@lru_cache(maxsize=4096)
def check_host(host: str) -> str:
    """host = hostname / IPv4address / IPv6reference; returns the host as written."""
    if not host:
        raise GrammarError("Empty host")
    if host[0] == "[":
        if host[-1] != "]":
            raise GrammarError("Bad IPv6 reference")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise GrammarError("Bad IPv6 reference") from None
        return host
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if all(label.isascii() and label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise GrammarError("Bad IPv4 address") from None
        return host
    if not all(label.isascii() and _LABEL_RE.fullmatch(label) for label in labels):
        raise GrammarError("Bad host name")
    return host


def split_hostport(text: str) -> tuple[str, int | None]:
    """hostport = host [ ":" port ]."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise GrammarError("Bad IPv6 reference")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise GrammarError("Bad host")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_ = text.partition(":")
        port_text = port_text_ if colon else None
    port = None if port_text is None else read_digits(port_text, "port", maximum=65535)
    return check_host(host), port


@dataclass(frozen=True, slots=True)
class SipUri:
    """sip: or sips: URI. ``host`` and components are as written (escapes kept)."""

    host: str
    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: tuple[Param, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = self.user if self.password is None else f"{self.user}:{self.password}"
            userinfo += "@"
        port = "" if self.port is None else f":{self.port}"
        headers = "" if not self.headers else "?" + "&".join(f"{n}={v}" for n, v in self.headers)
        return f"{self.scheme}:{userinfo}{self.host}{port}{format_params(self.params)}{headers}"

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unescape(self.user)

    def _find(self, name: str) -> Param | None:
        # Names compare after unescaping (section 19.1.4): "n%61me" is "name".
        lowered = name.lower()
        for param in self.params:
            if unescape(param[0]).lower() == lowered:
                return param
        return None

    def param(self, name: str) -> str | None:
        """The unescaped value of URI parameter ``name`` (case-insensitive); None if absent or valueless."""
        found = self._find(name)
        return None if found is None or found[1] is None else unescape(found[1])

    def has_param(self, name: str) -> bool:
        return self._find(name) is not None

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return None if value is None else value.lower()

    @property
    def maddr(self) -> str | None:
        return self.param("maddr")

    @property
    def loose_route(self) -> bool:
        """The ``lr`` parameter (RFC 3261 section 19.1.1): a loose router."""
        return self.has_param("lr")

    @property
    def host_key(self) -> str:
        """The host for comparisons: case-insensitive (RFC 3261 section 19.1.4)."""
        return self.host.lower()


@dataclass(frozen=True, slots=True)
class TelUri:
    """tel: URI (RFC 3966): a global (``+``) or local number and its parameters."""

    number: str
    params: tuple[Param, ...] = ()
    scheme: str = "tel"

    def __str__(self) -> str:
        return f"tel:{self.number}{format_params(self.params)}"

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    @property
    def digits(self) -> str:
        """The number without visual separators (RFC 3966 section 5.1.1)."""
        return "".join(c for c in self.number if c not in "-.()")

    def param(self, name: str) -> str | None:
        found = find_param(self.params, name)
        return None if found is None or found[1] is None else unescape(found[1])


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """A URI of any other scheme, kept as opaque text after the colon."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | TelUri | AbsoluteUri

# Section 19.1.4: these URI parameters must match when either URI has them.
_DECISIVE_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def uri_equal(a: Uri, b: Uri) -> bool:
    """URI equivalence (RFC 3261 section 19.1.4 for SIP/SIPS, RFC 3966 section 4 for tel).

    SIP: same scheme; user and password equal after unescaping, case-sensitive;
    host case-insensitive (no name resolution); same port (absent is not 5060);
    ``user``, ``ttl``, ``method``, ``maddr``, ``transport`` equal when either
    has them; other parameters equal when both have them; the same headers.
    Other schemes: equal text with a case-insensitive scheme.
    """
    if isinstance(a, SipUri) and isinstance(b, SipUri):
        if a.scheme != b.scheme or a.port != b.port or a.host.lower() != b.host.lower():
            return False
        if a.user_unescaped != b.user_unescaped:
            return False
        a_pw = None if a.password is None else unescape(a.password)
        b_pw = None if b.password is None else unescape(b.password)
        if a_pw != b_pw:
            return False
        a_params = _param_map(a.params)
        b_params = _param_map(b.params)
        for name in set(a_params) | set(b_params):
            in_both = name in a_params and name in b_params
            if (in_both or name in _DECISIVE_PARAMS) and (not in_both or a_params[name] != b_params[name]):
                return False
        return _header_map(a.headers) == _header_map(b.headers)
    if isinstance(a, TelUri) and isinstance(b, TelUri):
        return a.digits.lower() == b.digits.lower() and _param_map(a.params) == _param_map(b.params)
    if isinstance(a, AbsoluteUri) and isinstance(b, AbsoluteUri):
        return a.scheme.lower() == b.scheme.lower() and a.rest == b.rest
    return False


def _param_map(params: tuple[Param, ...]) -> dict[str, str | None]:
    # Parameter names and values compare case-insensitively after unescaping.
    return {unescape(n).lower(): None if v is None else unescape(v).lower() for n, v in params}


def _header_map(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    # Header names case-insensitive; values as in section 20 (compared as unescaped text here).
    return {unescape(n).lower(): unescape(v) for n, v in headers}


@text_cache
def parse_uri(text: str) -> Uri:
    """Parse a URI; ``GrammarError`` if it is not one."""
    colon = text.find(":")
    if colon <= 0 or not _SCHEME_RE.fullmatch(text[:colon]):
        raise GrammarError("Bad URI scheme")
    scheme = text[:colon].lower()
    rest = text[colon + 1 :]
    if scheme in ("sip", "sips"):
        return _parse_sip(scheme, rest)
    if scheme == "tel":
        return _parse_tel(rest)
    if not rest or any(c <= " " or c == "\x7f" for c in rest):
        raise GrammarError("Bad URI")
    return AbsoluteUri(text[:colon], rest)


def _parse_sip(scheme: str, rest: str) -> SipUri:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, password_ = userinfo.partition(":")
        password = password_ if colon else None
        if not _USER_RE.fullmatch(user):
            raise GrammarError("Bad user part in URI")
        if password is not None and not _PASSWORD_RE.fullmatch(password):
            raise GrammarError("Bad password in URI")
        check_escapes(userinfo, "URI user part")
    head, question, header_text = rest.partition("?")
    hostport, _, param_text = head.partition(";")
    host, port = split_hostport(hostport)
    params: list[Param] = []
    if param_text or head.endswith(";"):
        for item in param_text.split(";"):
            name, eq, value = item.partition("=")
            if not _PARAMCHARS_RE.fullmatch(name) or (eq and not _PARAMCHARS_RE.fullmatch(value)):
                raise GrammarError("Bad URI parameter")
            check_escapes(item, "URI parameter")
            params.append((name, value if eq else None))
    headers: list[tuple[str, str]] = []
    if question:
        for item in header_text.split("&"):
            name, eq, value = item.partition("=")
            if not eq or not _HNAME_RE.fullmatch(name) or not _HVALUE_RE.fullmatch(value):
                raise GrammarError("Bad URI header")
            check_escapes(item, "URI header")
            headers.append((name, value))
    return SipUri(host, scheme, user, password, port, tuple(params), tuple(headers))


def _parse_tel(rest: str) -> TelUri:
    number, *items = rest.split(";")
    if number.startswith("+"):
        if not _PHONEDIGITS_RE.fullmatch(number[1:]):
            raise GrammarError("Bad tel URI number")
    elif not _LOCAL_PHONE_RE.fullmatch(number):
        raise GrammarError("Bad tel URI number")
    params: list[Param] = []
    for item in items:
        name, eq, value = item.partition("=")
        if not _TEL_PNAME_RE.fullmatch(name) or (eq and not _TEL_PVALUE_RE.fullmatch(value)):
            raise GrammarError("Bad tel URI parameter")
        params.append((name, value if eq else None))
    return TelUri(number, tuple(params))
