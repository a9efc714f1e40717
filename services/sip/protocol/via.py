"""The Via header field (RFC 3261 sections 18.2.1, 20.42, 25.1; RFC 3581 rport).

    via-parm      = sent-protocol LWS sent-by *( SEMI via-params )
    sent-protocol = protocol-name SLASH protocol-version SLASH transport
    sent-by       = host [ COLON port ]
    via-params    = via-ttl / via-maddr / via-received / via-branch / via-extension

Whitespace is allowed around the slashes and the colon (RFC 4475 wsinv).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .errors import GrammarError
from .grammar import (
    WSP,
    Param,
    find_param,
    format_params,
    is_token,
    param_value,
    read_digits,
    read_params,
    read_token,
    skip_ws,
    split_list,
    text_cache,
)
from .uri import check_host

#: The RFC 3261 branch prefix (section 8.1.1.7): the branch is a transaction id.
MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class Via:
    transport: str
    host: str
    port: int | None = None
    params: tuple[Param, ...] = ()
    protocol: str = "SIP"
    version: str = "2.0"

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.version}/{self.transport} {self.host}{port}{format_params(self.params)}"

    @property
    def sent_by(self) -> str:
        """host[:port] as a comparison key (host case-insensitive)."""
        return self.host.lower() if self.port is None else f"{self.host.lower()}:{self.port}"

    @property
    def branch(self) -> str | None:
        return param_value(self.params, "branch")

    @property
    def received(self) -> str | None:
        return param_value(self.params, "received")

    @property
    def maddr(self) -> str | None:
        return param_value(self.params, "maddr")

    @property
    def ttl(self) -> int | None:
        value = param_value(self.params, "ttl")
        return None if value is None else int(value)

    @property
    def has_rport(self) -> bool:
        """RFC 3581: the client asks for the source port in ``rport``."""
        return find_param(self.params, "rport") is not None

    @property
    def rport(self) -> int | None:
        value = param_value(self.params, "rport")
        return None if not value else int(value)

    @property
    def rfc3261_branch(self) -> bool:
        """The branch starts with the magic cookie and has something after it (RFC 4475 badbranch)."""
        branch = self.branch
        return branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE)

    def with_params(self, **updates: str | None) -> Via:
        """A copy with parameters set (value None: a flag such as ``rport``); existing ones replaced in place."""
        params = list(self.params)
        for name, value in updates.items():
            for index, (existing, _) in enumerate(params):
                if existing.lower() == name:
                    params[index] = (existing, value)
                    break
            else:
                params.append((name, value))
        return Via(self.transport, self.host, self.port, tuple(params), self.protocol, self.version)

    def received_params(self, source_host: str, source_port: int) -> Via:
        """RFC 3261 section 18.2.1 and RFC 3581 section 4: record where the request came from.

        ``received`` is added when the sent-by host differs from the source
        address; with ``rport`` in the request, it is filled with the source port
        and ``received`` is always added.
        """
        updates: dict[str, str | None] = {}
        if self.has_rport:
            updates["rport"] = str(source_port)
            updates["received"] = source_host
        elif self.host.strip("[]").lower() != source_host.strip("[]").lower():
            updates["received"] = source_host
        return self.with_params(**updates) if updates else self


def response_destination(via: Via, *, default_port: int = 5060) -> tuple[str, int]:
    """Where a response goes over an unreliable transport (RFC 3261 section 18.2.2, RFC 3581 section 4).

    ``maddr`` first, then ``received`` with the ``rport`` value (or the
    sent-by port), then the sent-by itself. Over a reliable transport the
    response goes back on the connection the request came in on; this is
    the fallback when that connection is gone. Host names are returned as
    written for the transport to resolve (RFC 3263 section 6).
    """
    port = via.port if via.port is not None else default_port
    if via.maddr is not None:
        return via.maddr, port
    if via.received is not None:
        host = via.received.strip("[]")
        return host, via.rport if via.rport is not None else port
    return via.host.strip("[]"), port


def parse_via_list(text: str) -> list[Via]:
    return [parse_via(item) for item in split_list(text)]


@text_cache
def parse_via(text: str) -> Via:
    protocol, version, transport, i = _read_sent_protocol(text)
    host, port, i = _read_sent_by(text, i)
    params, _ = read_params(text, i, "Via parameter", colons=True)
    _check_params(params)
    return Via(transport.upper(), host, port, tuple(params), protocol.upper(), version)


def parse_top_via_leniently(text: str) -> Via | None:
    """The first via-parm's sent-protocol and sent-by, ignoring broken parameters.

    Used only to answer a malformed request with 400 (RFC 4475 badinv01):
    parameters that parse are kept, the rest is dropped.
    """
    try:
        protocol, version, transport, i = _read_sent_protocol(text)
        host, port, i = _read_sent_by(text, i)
    except GrammarError:
        return None
    params: list[Param] = []
    for item in text[i:].split(",")[0].split(";")[1:]:
        name, eq, value = (part.strip(WSP) for part in item.partition("="))
        if is_token(name) and (not eq or is_token(value)):
            params.append((name, value if eq else None))
    return Via(transport.upper(), host, port, tuple(params), protocol.upper(), version)


def _read_sent_protocol(text: str) -> tuple[str, str, str, int]:
    i = skip_ws(text, 0)
    protocol, i = read_token(text, i, "Via protocol name")
    parts = [protocol]
    for what in ("Via protocol version", "Via transport"):
        i = skip_ws(text, i)
        if i >= len(text) or text[i] != "/":
            raise GrammarError("Bad Via sent-protocol")
        i = skip_ws(text, i + 1)
        token, i = read_token(text, i, what)
        parts.append(token)
    if i >= len(text) or text[i] not in WSP:
        raise GrammarError("Bad Via sent-by")
    return parts[0], parts[1], parts[2], skip_ws(text, i)


def _read_sent_by(text: str, i: int) -> tuple[str, int | None, int]:
    n = len(text)
    if i < n and text[i] == "[":
        end = text.find("]", i)
        if end < 0:
            raise GrammarError("Bad Via sent-by")
        j = end + 1
    else:
        j = i
        while j < n and text[j] not in WSP and text[j] not in ";:":
            j += 1
    host = check_host(text[i:j])
    port = None
    k = skip_ws(text, j)
    if k < n and text[k] == ":":
        k = skip_ws(text, k + 1)
        start = k
        while k < n and text[k].isdigit():
            k += 1
        port = read_digits(text[start:k], "Via port", maximum=65535)
        j = k
    return host, port, j


@text_cache
def _is_address(text: str) -> bool:
    """An IPv4 or IPv6 address (remembered: a farm sees the same few sources again and again)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_params(params: list[Param]) -> None:
    for name, value in params:
        lowered = name.lower()
        if lowered == "branch" and (not value or not is_token(value)):
            raise GrammarError("Bad Via branch")
        elif lowered == "received":
            if not value:
                raise GrammarError("Bad Via received")
            # IPv4address / IPv6address; RFC 5118 section 4.5 notes both bracketed and
            # bare IPv6 in the wild, so both are accepted.
            if not _is_address(value.strip("[]")):
                raise GrammarError("Bad Via received")
        elif lowered == "rport" and value is not None:
            read_digits(value, "Via rport", maximum=65535)
        elif lowered == "ttl":
            read_digits(value or "", "Via ttl", maximum=255)
        elif lowered == "maddr":
            check_host(value or "")
