"""SPF results (RFC 7208 section 2.6) against the loopback DNS server."""

from __future__ import annotations

import pytest

from libs.testing.dnsserver import DnsServer
from services.smtp._spf import SpfChecker, valid_domain
from services.smtp.config_mailauth import MailAuthSettings

CLIENT = "192.0.2.10"


@pytest.fixture(scope="module")
def checker(dns_server: DnsServer, settings: MailAuthSettings) -> SpfChecker:
    dns_server.txt("pass.spf.test", "v=spf1 ip4:192.0.2.0/24 -all")
    dns_server.txt("fail.spf.test", "v=spf1 ip4:198.51.100.1 -all")
    dns_server.txt("soft.spf.test", "v=spf1 ip4:198.51.100.1 ~all")
    dns_server.txt("neutral.spf.test", "v=spf1 ?all")
    dns_server.txt("nospf.spf.test", "some unrelated text")
    dns_server.txt("a.spf.test", "v=spf1 a:host.a.spf.test -all")
    dns_server.a("host.a.spf.test", CLIENT)
    dns_server.txt("syntax.spf.test", "v=spf1 ip4:not-an-address -all")
    dns_server.txt("two.spf.test", "v=spf1 -all", "v=spf1 +all")
    for i in range(12):
        dns_server.txt(f"i{i}.spf.test", "v=spf1 ?all")
    dns_server.txt("many.spf.test", "v=spf1 " + " ".join(f"include:i{i}.spf.test" for i in range(12)) + " -all")
    huge = " ".join(f"ip4:10.{i // 250}.{i % 250}.1" for i in range(900))
    dns_server.txt("huge.spf.test", f"v=spf1 {huge} -all")
    dns_server.drop("slow.spf.test")
    dns_server.servfail("broken.spf.test")
    dns_server.txt("helo.spf.test", f"v=spf1 ip4:{CLIENT} -all")
    spf = SpfChecker(settings)
    yield spf
    spf.close()


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("pass.spf.test", "pass"),
        ("fail.spf.test", "fail"),
        ("soft.spf.test", "softfail"),
        ("neutral.spf.test", "neutral"),
        ("nospf.spf.test", "none"),
        ("nxdomain.spf.test", "none"),
        ("a.spf.test", "pass"),
        ("syntax.spf.test", "permerror"),
        ("two.spf.test", "permerror"),  # RFC 7208 4.5: more than one record
        ("many.spf.test", "permerror"),  # RFC 7208 4.6.4: more than 10 DNS lookups
        ("huge.spf.test", "fail"),  # a long record is read whole and evaluated
        ("slow.spf.test", "temperror"),  # no answer: timeout
        ("broken.spf.test", "temperror"),  # SERVFAIL
    ],
)
async def test_mail_from_results(checker: SpfChecker, domain: str, expected: str) -> None:
    result = await checker.check(client_ip=CLIENT, sender=f"someone@{domain}", helo="client.example")
    assert result.result == expected, result
    assert result.identity == "mailfrom"
    assert f"smtp.mailfrom=someone@{domain}" in result.clause()


async def test_null_sender_checks_helo(checker: SpfChecker) -> None:
    result = await checker.check(client_ip=CLIENT, sender=None, helo="helo.spf.test")
    assert (result.result, result.identity) == ("pass", "helo")
    assert result.clause().startswith("spf=pass (") and result.clause().endswith("smtp.helo=helo.spf.test")
    other = await checker.check(client_ip="198.51.100.7", sender="", helo="helo.spf.test")
    assert other.result == "fail"


@pytest.mark.parametrize(
    ("sender", "helo"),
    [("x@[192.0.2.1]", "h.example"), ("x@localhost", "h.example"), (None, "[192.0.2.1]"), (None, None),
     ("x@" + "a" * 64 + ".test", "h.example")],
)  # fmt: skip
async def test_malformed_identity_is_none_without_lookup(checker: SpfChecker, sender: str | None, helo: str) -> None:
    result = await checker.check(client_ip=CLIENT, sender=sender, helo=helo)
    assert result.result == "none"


async def test_unicode_sender_domain_is_checked_as_a_labels(checker: SpfChecker, dns_server: DnsServer) -> None:
    dns_server.txt("xn--bcher-kva.spf.test", f"v=spf1 ip4:{CLIENT} -all")
    result = await checker.check(client_ip=CLIENT, sender="jürgen@bücher.spf.test", helo="h.example")
    assert result.result == "pass"
    assert (await checker.check(client_ip=CLIENT, sender="x@bad\u200b.test", helo="h")).result == "none"


async def test_ipv6_client(checker: SpfChecker) -> None:
    result = await checker.check(client_ip="2001:db8::1", sender="x@fail.spf.test", helo="h.example")
    assert result.result == "fail"


def test_valid_domain() -> None:
    assert valid_domain("example.com") and valid_domain("a-b.example.com.")
    assert not valid_domain("example") and not valid_domain("-a.example") and not valid_domain("a..b")
    assert not valid_domain("exämple.com")
