"""Where mail for a remote domain goes: static routes, a smarthost, or the domain's MX records.

The order of questions, first answer wins:

1. the static route table (`PARLEY_SMTP_OUTBOUND_ROUTES`): the domain itself,
   then `*`;
2. the smarthost (`PARLEY_SMTP_OUTBOUND_SMARTHOST`);
3. DNS: the MX records, lowest preference first, equal preferences in random
   order (RFC 5321 section 5.1). A domain without MX records is its own mail
   host ("implicit MX": its A/AAAA records, section 5.1). A "null MX" (one
   record, preference 0, exchange ".", RFC 7505 section 3) says the domain
   takes no mail: a permanent failure (556 5.1.10), bounced at once. A domain
   that does not exist (NXDOMAIN) is permanent too (5.1.2); a DNS server that
   does not answer is temporary (4.4.3) and the message is retried.

An address literal (`user@[192.0.2.1]`) is its own route. The table and the
resolver are passed in, so tests route to loopback without DNS.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver


@dataclass(frozen=True, slots=True)
class Hop:
    """One server to try: a host name or IP address, and a port."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Route:
    """The servers to try in order, or why there are none (`code`, `enhanced`, `text`)."""

    hops: tuple[Hop, ...] = ()
    code: int = 0
    enhanced: str = ""
    text: str = ""

    @property
    def permanent(self) -> bool:
        return not self.hops and self.code >= 500


@dataclass(frozen=True, slots=True)
class MxRecord:
    preference: int
    exchange: str


class DnsFailure(Exception):
    """DNS could not answer now (timeout, SERVFAIL): try again later."""


class NoSuchDomain(Exception):
    """NXDOMAIN: the domain does not exist."""


MxLookup = Callable[[str], Awaitable[list[MxRecord] | None]]


def parse_hop(text: str, *, default_port: int) -> Hop:
    """`host`, `host:port`, `[v6 or v4 literal]:port` or `[literal]`."""
    text = text.strip()
    if text.startswith("["):
        literal, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
        return Hop(literal.removeprefix("IPv6:").removeprefix("ipv6:"), port)
    host, colon, port_text = text.rpartition(":")
    if colon and port_text.isdigit() and ":" not in host:
        return Hop(host, int(port_text))
    return Hop(text, default_port)


class Router:
    def __init__(
        self,
        *,
        routes: Mapping[str, str],
        smarthost: str = "",
        default_port: int = 25,
        mx_lookup: MxLookup | None = None,
    ) -> None:
        self.routes = {domain.lower().rstrip("."): hop for domain, hop in routes.items()}
        self.smarthost = smarthost
        self.default_port = default_port
        self.mx_lookup = mx_lookup

    def static_route(self, domain: str) -> Route | None:
        domain = domain.lower().rstrip(".")
        for key in (domain, "*"):
            if key in self.routes:
                return Route((parse_hop(self.routes[key], default_port=self.default_port),))
        if self.smarthost:
            return Route((parse_hop(self.smarthost, default_port=self.default_port),))
        return None

    async def route(self, domain: str) -> Route:
        if domain.startswith("["):  # address literal: RFC 5321 section 5.1, no lookup
            return Route((parse_hop(domain, default_port=self.default_port),))
        static = self.static_route(domain)
        if static is not None:
            return static
        if self.mx_lookup is None:
            return Route(code=451, enhanced="4.4.4", text="No route configured and DNS lookups are off")
        try:
            records = await self.mx_lookup(domain)
        except NoSuchDomain:
            return Route(code=550, enhanced="5.1.2", text=f"Domain {domain} does not exist")
        except DnsFailure as exc:
            return Route(code=451, enhanced="4.4.3", text=f"DNS lookup for {domain} failed: {exc}")
        return route_from_mx(domain, records, default_port=self.default_port)


def route_from_mx(domain: str, records: list[MxRecord] | None, *, default_port: int) -> Route:
    """Hops from MX records; `None` (no MX records at all) means the domain's own address."""
    if records is None:
        return Route((Hop(domain, default_port),))  # RFC 5321 section 5.1: implicit MX
    if is_null_mx(records):
        return Route(code=556, enhanced="5.1.10", text=f"Domain {domain} accepts no mail (null MX, RFC 7505)")
    usable = [r for r in records if r.exchange not in ("", ".")]
    if not usable:
        return Route(code=556, enhanced="5.1.10", text=f"Domain {domain} has no usable MX host")
    by_preference: dict[int, list[str]] = {}
    for record in usable:
        by_preference.setdefault(record.preference, []).append(record.exchange.rstrip("."))
    hops: list[Hop] = []
    for preference in sorted(by_preference):
        hosts = by_preference[preference]
        random.shuffle(hosts)  # RFC 5321 section 5.1: spread load over equal preferences
        hops += [Hop(host, default_port) for host in dict.fromkeys(hosts)]
    return Route(tuple(hops))


def is_null_mx(records: list[MxRecord]) -> bool:
    """RFC 7505 section 3: a single MX record with an empty exchange (".") means no mail."""
    return len(records) == 1 and records[0].exchange in ("", ".")


def dns_mx_lookup(resolver: dns.asyncresolver.Resolver) -> MxLookup:
    """MX records of a domain; None when the domain exists but has no MX.

    The resolver is the one the sender checks use (`_dns.async_resolver`:
    `PARLEY_SMTP_DNS_SERVERS`, `PARLEY_SMTP_DNS_TIMEOUT`, `PARLEY_SMTP_DNS_LIFETIME`).
    """

    async def lookup(domain: str) -> list[MxRecord] | None:
        try:
            answer = await resolver.resolve(domain, dns.rdatatype.MX, search=False)
        except dns.resolver.NXDOMAIN:
            raise NoSuchDomain(domain) from None
        except dns.resolver.NoAnswer:
            return None  # exists, no MX: connect to the domain's A/AAAA (implicit MX)
        except dns.exception.DNSException as exc:  # timeout, SERVFAIL, no server answered
            raise DnsFailure(type(exc).__name__) from None
        return [MxRecord(r.preference, r.exchange.to_text()) for r in answer]

    return lookup
