"""MX lookups with dnspython against the test DNS server on loopback (no network)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from libs.testing.dnsserver import DnsServer
from services.smtp._dns import async_resolver
from services.smtp._routes import DnsFailure, Hop, MxLookup, MxRecord, NoSuchDomain, Router, dns_mx_lookup
from services.smtp.config_mailauth import MailAuthSettings


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    with DnsServer() as server:
        server.mx("example.org", "10 mx1.example.org.", "20 mx2.example.org.")
        server.mx("nomail.example", "0 .")  # RFC 7505 null MX
        server.a("a-only.example", "192.0.2.1")  # exists, has no MX records
        server.servfail("broken.example")
        yield server


def router(server: DnsServer) -> tuple[Router, MxLookup]:
    lookup = dns_mx_lookup(async_resolver(MailAuthSettings(dns_servers=server.address, dns_lifetime=2)))
    return Router(routes={}, mx_lookup=lookup), lookup


async def test_mx_records_are_read(dns_server: DnsServer) -> None:
    routes, lookup = router(dns_server)
    records = await lookup("example.org")
    expected = [MxRecord(10, "mx1.example.org."), MxRecord(20, "mx2.example.org.")]
    assert sorted(records or [], key=lambda r: r.preference) == expected
    route = await routes.route("example.org")
    assert route.hops == (Hop("mx1.example.org", 25), Hop("mx2.example.org", 25))


async def test_no_mx_records_is_none_and_routes_to_the_domain(dns_server: DnsServer) -> None:
    routes, lookup = router(dns_server)
    assert await lookup("a-only.example") is None
    assert (await routes.route("a-only.example")).hops == (Hop("a-only.example", 25),)


async def test_null_mx_nxdomain_and_servfail(dns_server: DnsServer) -> None:
    routes, lookup = router(dns_server)
    null = await routes.route("nomail.example")
    assert null.permanent and null.enhanced == "5.1.10"
    with pytest.raises(NoSuchDomain):
        await lookup("missing.example")
    with pytest.raises(DnsFailure):
        await lookup("broken.example")
    later = await routes.route("broken.example")
    assert not later.permanent and later.code == 451
