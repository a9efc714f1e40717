"""Routing of remote domains: static routes, smarthost, MX records, null MX, address literals."""

from __future__ import annotations

import asyncio

import pytest

from services.smtp._routes import (
    DnsFailure,
    Hop,
    MxRecord,
    NoSuchDomain,
    Router,
    is_null_mx,
    parse_hop,
    route_from_mx,
)


def route(router: Router, domain: str):
    return asyncio.run(router.route(domain))


def test_parse_hop_forms() -> None:
    assert parse_hop("mx.example.org", default_port=25) == Hop("mx.example.org", 25)
    assert parse_hop("mx.example.org:2526", default_port=25) == Hop("mx.example.org", 2526)
    assert parse_hop("[127.0.0.1]:2526", default_port=25) == Hop("127.0.0.1", 2526)
    assert parse_hop("[IPv6:::1]", default_port=25) == Hop("::1", 25)
    assert parse_hop("::1", default_port=25) == Hop("::1", 25)  # a bare v6 address has no port


def test_static_route_wins_then_default_then_smarthost() -> None:
    router = Router(routes={"Example.ORG": "127.0.0.1:2526", "*": "relay.internal"}, smarthost="smart:587")
    assert route(router, "example.org").hops == (Hop("127.0.0.1", 2526),)
    assert route(router, "EXAMPLE.org.").hops == (Hop("127.0.0.1", 2526),)
    assert route(router, "other.test").hops == (Hop("relay.internal", 25),)
    assert route(Router(routes={}, smarthost="smart:587"), "other.test").hops == (Hop("smart", 587),)


def test_address_literal_is_its_own_route() -> None:
    assert route(Router(routes={}), "[192.0.2.1]").hops == (Hop("192.0.2.1", 25),)


def test_mx_records_by_preference() -> None:
    records = [MxRecord(20, "b.example.org."), MxRecord(10, "a.example.org."), MxRecord(30, "c.example.org.")]
    result = route_from_mx("example.org", records, default_port=25)
    assert [h.host for h in result.hops] == ["a.example.org", "b.example.org", "c.example.org"]


def test_equal_preferences_are_all_tried() -> None:
    records = [MxRecord(10, "a.example.org."), MxRecord(10, "b.example.org."), MxRecord(5, "first.example.org.")]
    hosts = [h.host for h in route_from_mx("example.org", records, default_port=25).hops]
    assert hosts[0] == "first.example.org"
    assert sorted(hosts[1:]) == ["a.example.org", "b.example.org"]


def test_no_mx_means_the_domain_itself() -> None:
    # RFC 5321 section 5.1: without MX records the domain's A/AAAA is the implicit MX.
    assert route_from_mx("example.org", None, default_port=25).hops == (Hop("example.org", 25),)


def test_null_mx_is_a_permanent_failure() -> None:
    # RFC 7505 section 3: one MX with preference 0 and exchange "." means no mail.
    records = [MxRecord(0, ".")]
    assert is_null_mx(records)
    result = route_from_mx("nomail.example", records, default_port=25)
    assert result.permanent and (result.code, result.enhanced) == (556, "5.1.10")


def test_lookup_failures() -> None:
    async def nxdomain(domain: str) -> list[MxRecord] | None:
        raise NoSuchDomain(domain)

    async def servfail(domain: str) -> list[MxRecord] | None:
        raise DnsFailure("Timeout")

    gone = route(Router(routes={}, mx_lookup=nxdomain), "gone.example")
    assert gone.permanent and gone.enhanced == "5.1.2"
    later = route(Router(routes={}, mx_lookup=servfail), "slow.example")
    assert not later.permanent and not later.hops and later.code == 451


def test_lookup_results_become_hops() -> None:
    async def lookup(domain: str) -> list[MxRecord] | None:
        return [MxRecord(10, f"mx.{domain}.")]

    assert route(Router(routes={}, mx_lookup=lookup, default_port=2525), "example.org").hops == (
        Hop("mx.example.org", 2525),
    )


@pytest.mark.parametrize("domain", ["example.org", "[127.0.0.1]"])
def test_without_dns_or_route_only_literals_route(domain: str) -> None:
    result = route(Router(routes={}), domain)
    assert bool(result.hops) == domain.startswith("[")
