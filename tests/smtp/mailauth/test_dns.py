"""The resolver settings and the loopback DNS server the sender-check tests rely on."""

from __future__ import annotations

import dns.resolver
import pytest
from pydantic import ValidationError

from libs.testing.dnsserver import DnsServer
from services.smtp import _dns
from services.smtp.config_mailauth import MailAuthSettings, parse_dns_servers


@pytest.mark.parametrize(
    ("text", "servers"),
    [
        ("", []),
        ("127.0.0.1:5353", [("127.0.0.1", 5353)]),
        ("192.0.2.1, 192.0.2.2:53", [("192.0.2.1", 53), ("192.0.2.2", 53)]),
        ("::1, [::1]:5353", [("::1", 53), ("::1", 5353)]),
    ],
)
def test_dns_servers_setting(text: str, servers: list[tuple[str, int]]) -> None:
    assert parse_dns_servers(text) == servers


@pytest.mark.parametrize("text", ["127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:x"])
def test_bad_dns_servers_are_refused_at_start(text: str) -> None:
    with pytest.raises(ValidationError):
        MailAuthSettings(dns_servers=text)


def test_resolvers_use_the_configured_server(dns_server: DnsServer, settings: MailAuthSettings) -> None:
    resolver = _dns.blocking_resolver(settings)
    assert resolver.lifetime == settings.dns_lifetime and resolver.timeout == settings.dns_timeout
    assert [str(n) for n in resolver.nameservers] == [f"Do53:{dns_server.host}@{dns_server.port}"]


async def test_txt_lookup_answers(dns_server: DnsServer, settings: MailAuthSettings) -> None:
    dns_server.txt("long.dns.test", "x" * 700)
    dns_server.txt("too-long.dns.test", *[str(i) * 4000 for i in range(5)])
    dns_server.a("a-only.dns.test", "192.0.2.1")
    dns_server.drop("dropped.dns.test")
    dns_server.servfail("failing.dns.test")
    resolver = _dns.async_resolver(settings)
    assert await _dns.txt_lookup(resolver, "long.dns.test") == [b"x" * 700]  # 255-byte strings joined
    assert await _dns.txt_lookup(resolver, "nothing.dns.test") == []  # NXDOMAIN
    assert await _dns.txt_lookup(resolver, "a-only.dns.test") == []  # no TXT
    assert await _dns.txt_lookup(resolver, "dropped.dns.test") == _dns.TEMPORARY
    assert await _dns.txt_lookup(resolver, "failing.dns.test") == _dns.TEMPORARY
    assert await _dns.txt_lookup(resolver, "bad..name") == []
    with pytest.raises(_dns.TxtTooLarge):
        await _dns.txt_lookup(resolver, "too-long.dns.test")
    with pytest.raises(dns.resolver.NXDOMAIN):
        _dns.blocking_resolver(settings).resolve("nothing.dns.test", "TXT")
