"""MX lookups with dnspython against a small DNS server on loopback (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from services.smtp._dns import async_resolver
from services.smtp._routes import DnsFailure, Hop, MxRecord, NoSuchDomain, Router, dns_mx_lookup
from services.smtp.config_mailauth import MailAuthSettings

ZONE = {
    "example.org.": ["10 mx1.example.org.", "20 mx2.example.org."],
    "nomail.example.": ["0 ."],  # RFC 7505 null MX
}
NO_MX = {"a-only.example."}  # exists, has no MX records


class FakeDns(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().lower()
        response = dns.message.make_response(query)
        if name == "broken.example.":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in ZONE and question.rdtype == dns.rdatatype.MX:
            response.answer.append(dns.rrset.from_text_list(name, 300, "IN", "MX", ZONE[name]))
        elif name not in ZONE and name not in NO_MX:
            response.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(response.to_wire(), addr)  # type: ignore[attr-defined]


@pytest.fixture
async def dns_server() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(FakeDns, local_addr=("127.0.0.1", 0))
    host, port = transport.get_extra_info("sockname")[:2]
    yield f"{host}:{port}"
    transport.close()


async def test_mx_records_are_read(dns_server: str) -> None:
    lookup = dns_mx_lookup(async_resolver(MailAuthSettings(dns_servers=dns_server)))
    records = await lookup("example.org")
    expected = [MxRecord(10, "mx1.example.org."), MxRecord(20, "mx2.example.org.")]
    assert sorted(records or [], key=lambda r: r.preference) == expected
    route = await Router(routes={}, mx_lookup=lookup).route("example.org")
    assert route.hops == (Hop("mx1.example.org", 25), Hop("mx2.example.org", 25))


async def test_no_mx_records_is_none_and_routes_to_the_domain(dns_server: str) -> None:
    lookup = dns_mx_lookup(async_resolver(MailAuthSettings(dns_servers=dns_server)))
    assert await lookup("a-only.example") is None
    route = await Router(routes={}, mx_lookup=lookup).route("a-only.example")
    assert route.hops == (Hop("a-only.example", 25),)


async def test_null_mx_nxdomain_and_servfail(dns_server: str) -> None:
    lookup = dns_mx_lookup(async_resolver(MailAuthSettings(dns_servers=dns_server)))
    router = Router(routes={}, mx_lookup=lookup)
    null = await router.route("nomail.example")
    assert null.permanent and null.enhanced == "5.1.10"
    with pytest.raises(NoSuchDomain):
        await lookup("missing.example")
    with pytest.raises(DnsFailure):
        await lookup("broken.example")
    later = await router.route("broken.example")
    assert not later.permanent and later.code == 451
