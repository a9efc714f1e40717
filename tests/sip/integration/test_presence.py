"""Presence through real sip processes: SUBSCRIBE/NOTIFY (RFC 6665), PUBLISH (RFC 3903), PIDF, the farm.

Two replicas behind one NATS: a watcher subscribed through one is notified
when the presentity publishes through the other, because published state
lives in the `presence` bucket and changes go out on
`presence.state.changed.<account>`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from xml.etree import ElementTree

import nats
import pytest

from libs.contracts import presence as contract
from services.sip import _pidf as pidf
from services.sip.protocol import Request, Response
from tests.sip.integration.conftest import PASSWORD, SipProcess, SipSuite
from tests.sip.integration.ua import UA

# Short minimum so expiry can be watched within a test.
SIP_ENV = {"PARLEY_SIP_SUBSCRIBE_MIN_EXPIRES": "2"}


@pytest.fixture
def domain(sip_suite: SipSuite) -> str:
    return sip_suite.new_domain()


@pytest.fixture(scope="module")
def replica_b(sip_suite: SipSuite) -> SipProcess:
    return sip_suite.start_sip("sip-b", **SIP_ENV)


@pytest.fixture
def ua_factory(sip_suite: SipSuite) -> Iterator:  # type: ignore[type-arg]
    made: list[UA] = []

    def make(user: str, domain: str, *, port: int | None = None, transport: str = "UDP") -> UA:
        ua = UA(user, domain, PASSWORD, proxy=("127.0.0.1", port or sip_suite.sip.port), transport=transport)
        made.append(ua)
        return ua

    yield make
    for ua in made:
        ua.close()


def with_auth(ua: UA, method: str, uri: str, headers: list[str], *, body: bytes = b"",
              call_id: str | None = None) -> Response:  # fmt: skip
    ua.request(method, uri, to=uri, headers=headers, body=body, call_id=call_id)
    first = ua.final(method)
    if first.status != 401:
        return first
    ua.request(method, uri, to=uri, headers=[*headers, ua.authorization(first, method, uri)], body=body,
               call_id=call_id)  # fmt: skip
    return ua.final(method)


def subscribe(ua: UA, target: str, *, event: str = "presence", expires: int = 600) -> tuple[Response, str]:
    call_id = secrets.token_hex(8)
    headers = [f"Event: {event}", f"Expires: {expires}", f"Contact: <{ua.contact}>", "Accept: application/pidf+xml"]
    return with_auth(ua, "SUBSCRIBE", f"sip:{target}", headers, call_id=call_id), call_id


def resubscribe(ua: UA, port: int, ok: Response, call_id: str, expires: int) -> Response:
    """A refresh (or with 0 an unsubscribe) in the dialog, to the Contact of the 200."""
    ua.request("SUBSCRIBE", f"sip:127.0.0.1:{port}", to=str(ok.to.uri), to_tag=ok.to.tag, call_id=call_id,
               headers=["Event: presence", f"Expires: {expires}", f"Contact: <{ua.contact}>"])  # fmt: skip
    return ua.final("SUBSCRIBE")


def publish(ua: UA, body: bytes, *, etag: str | None = None, expires: int = 600) -> Response:
    headers = ["Event: presence", f"Expires: {expires}"]
    if etag:
        headers.append(f"SIP-If-Match: {etag}")
    if body:
        headers.append("Content-Type: application/pidf+xml")
    return with_auth(ua, "PUBLISH", ua.aor, headers, body=body, call_id=secrets.token_hex(8))


def notify(ua: UA, call_id: str, timeout: float = 5.0) -> Request:
    """The next NOTIFY of the dialog, answered 200."""
    msg = ua.expect(lambda m: isinstance(m, Request) and m.method == "NOTIFY" and m.call_id == call_id, timeout)
    assert isinstance(msg, Request)
    ua.respond(msg, 200)
    return msg


def status_doc(entity: str, basic: str, note: str = "", tuple_id: str = "t1") -> bytes:
    return pidf.basic_document(entity, open_=basic == "open", tuple_id=tuple_id, note=note).encode()


def test_watcher_on_one_replica_sees_a_publication_through_the_other(  # type: ignore[no-untyped-def]
    ua_factory, domain: str, replica_b: SipProcess, sip_suite: SipSuite
) -> None:
    alice = ua_factory("alice", domain)
    bob = ua_factory("bob", domain, port=replica_b.port)
    ok, call_id = subscribe(alice, f"bob@{domain}")
    assert ok.status == 200, ok
    assert ok.headers.get("Expires") == "600" and ok.to.tag
    first = notify(alice, call_id)
    assert first.headers.get("Event") == "presence"
    assert (first.headers.get("Subscription-State") or "").startswith("active;expires=")
    assert first.content_type == pidf.CONTENT_TYPE
    assert pidf.summary(first.body.decode()).basic == "closed"  # nothing published, nothing registered
    assert pidf.parse(first.body).get("entity") == f"sip:bob@{domain}"

    published = publish(bob, status_doc(f"sip:bob@{domain}", "open", "lunch"))
    assert published.status == 200, published
    etag = published.headers.get("SIP-ETag")
    assert etag and published.headers.get("Expires") == "600"
    changed = notify(alice, call_id)
    assert pidf.summary(changed.body.decode()) == pidf.Summary("open", "lunch")
    assert changed.cseq.number > first.cseq.number

    refreshed = publish(bob, b"", etag=etag)  # refresh: a new tag, the same state (no NOTIFY)
    assert refreshed.status == 200 and refreshed.headers.get("SIP-ETag") not in (None, etag)
    assert publish(bob, b"", etag=etag).status == 412  # the old tag is spent
    removed = publish(bob, b"", etag=refreshed.headers.get("SIP-ETag"), expires=0)
    assert removed.status == 200
    assert pidf.summary(notify(alice, call_id).body.decode()).basic == "closed"

    # Unsubscribe in the dialog: 200, then a final NOTIFY with Subscription-State terminated.
    assert resubscribe(alice, sip_suite.sip.port, ok, call_id, 0).status == 200
    assert notify(alice, call_id).headers.get("Subscription-State") == "terminated"
    # The dialog is gone: a refresh now gets 481.
    assert resubscribe(alice, sip_suite.sip.port, ok, call_id, 60).status == 481


def test_the_state_change_event_goes_out_on_the_bus(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    bob = ua_factory("bob", domain)

    async def watch() -> contract.PresenceState:
        nc = await nats.connect(sip_suite.nats_url)
        sub = await nc.subscribe(contract.state_changed_subject(f"bob@{domain}"))
        loop = asyncio.get_running_loop()
        sent = loop.run_in_executor(None, publish, bob, status_doc(f"sip:bob@{domain}", "open", "here"))
        msg = await sub.next_msg(timeout=10)
        assert (await sent).status == 200
        await nc.close()
        return contract.PresenceState.model_validate_json(msg.data)

    state = asyncio.run(watch())
    assert state.account == f"bob@{domain}" and state.basic == "open" and state.note == "here"
    assert state.source == "sip" and pidf.summary(state.pidf).basic == "open"


def test_registration_gives_open_when_nothing_is_published(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    alice, carol = ua_factory("alice", domain), ua_factory("carol", domain)
    ok, call_id = subscribe(alice, f"carol@{domain}")
    assert ok.status == 200
    assert pidf.summary(notify(alice, call_id).body.decode()).basic == "closed"
    assert carol.register(expires=60).status == 200
    assert pidf.summary(notify(alice, call_id).body.decode()).basic == "open"
    assert carol.register(expires=0).status == 200
    assert pidf.summary(notify(alice, call_id).body.decode()).basic == "closed"


def test_subscription_and_publication_expire(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    alice, bob = ua_factory("alice", domain), ua_factory("bob", domain)
    assert publish(bob, status_doc(f"sip:bob@{domain}", "open"), expires=3).status == 200
    ok, call_id = subscribe(alice, f"bob@{domain}", expires=8)
    assert ok.status == 200 and ok.headers.get("Expires") == "8"
    assert pidf.summary(notify(alice, call_id).body.decode()).basic == "open"
    # The publication runs out: the watcher hears closed without anyone publishing.
    assert pidf.summary(notify(alice, call_id, timeout=8).body.decode()).basic == "closed"
    # The subscription runs out: a final NOTIFY with reason timeout.
    last = notify(alice, call_id, timeout=10)
    assert last.headers.get("Subscription-State") == "terminated;reason=timeout"


def test_watchers_of_another_domain_wait_for_consent(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    other = sip_suite.new_domain()
    eve = ua_factory("alice", other)
    ok, call_id = subscribe(eve, f"bob@{domain}")
    assert ok.status == 200
    pending = notify(eve, call_id)
    assert (pending.headers.get("Subscription-State") or "").startswith("pending;")
    assert pending.body == b""  # no state before consent
    with sip_suite.admin() as admin:
        reply = admin.patch(f"/accounts/bob@{domain}/settings", json={"presence": {"allow": [f"alice@{other}"]}})
        assert reply.status_code == 200, reply.text
    active = notify(eve, call_id, timeout=10)
    assert (active.headers.get("Subscription-State") or "").startswith("active;")
    assert pidf.summary(active.body.decode()).basic == "closed"
    with sip_suite.admin() as admin:
        reply = admin.patch(f"/accounts/bob@{domain}/settings", json={"presence": {"block": [f"@{other}"]}})
        assert reply.status_code == 200, reply.text
    ended = notify(eve, call_id, timeout=10)
    assert ended.headers.get("Subscription-State") == "terminated;reason=rejected"
    assert ended.body == b""
    refused, _ = subscribe(eve, f"bob@{domain}")
    assert refused.status == 403


def test_bad_requests(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    alice = ua_factory("alice", domain)
    target = f"sip:bob@{domain}"
    contact = f"Contact: <{alice.contact}>"
    # Unknown package: 489 with the packages we serve.
    alice.request("SUBSCRIBE", target, to=target, headers=["Event: foo", contact])
    bad = alice.final("SUBSCRIBE")
    assert bad.status == 489 and "presence" in (bad.headers.get("Allow-Events") or "")
    # No Event: 400 for SUBSCRIBE (the field is mandatory), 489 for PUBLISH (RFC 3903 section 6 step 2).
    alice.request("SUBSCRIBE", target, to=target, headers=[contact])
    assert alice.final("SUBSCRIBE").status == 400
    alice.request("PUBLISH", alice.aor, to=alice.aor, headers=["Expires: 60"])
    assert alice.final("PUBLISH").status == 489
    # No credentials: 401 with a challenge, for both.
    alice.request("SUBSCRIBE", target, to=target, headers=["Event: presence", contact])
    challenged = alice.final("SUBSCRIBE")
    assert challenged.status == 401 and challenged.www_authenticate
    alice.request("PUBLISH", alice.aor, to=alice.aor, headers=["Event: presence"])
    assert alice.final("PUBLISH").status == 401
    # Malformed PIDF, an entity bomb, a wrong type, another's presence, an unknown tag.
    assert publish(alice, b"<presence xmlns='urn:ietf:params:xml:ns:pidf'").status == 400
    bomb = b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa">]><presence/>'
    assert publish(alice, bomb).status == 400
    headers = ["Event: presence", "Content-Type: text/plain"]
    assert with_auth(alice, "PUBLISH", alice.aor, headers, body=b"hello").status == 415
    headers = ["Event: presence", "Content-Type: application/pidf+xml"]
    body = status_doc(target, "open")
    assert with_auth(alice, "PUBLISH", target, headers, body=body).status == 403
    assert publish(alice, b"", etag="nosuchtag").status == 412
    # Too brief, and a SUBSCRIBE to nobody.
    short = with_auth(alice, "SUBSCRIBE", target, ["Event: presence", "Expires: 1", contact])
    assert short.status == 423 and short.headers.get("Min-Expires") == "2"
    assert subscribe(alice, f"nobody@{domain}")[0].status == 404
    # message-summary of another account is refused.
    assert subscribe(alice, f"bob@{domain}", event="message-summary")[0].status == 403
    # The service is still well.
    alice.request("OPTIONS", f"sip:127.0.0.1:{sip_suite.sip.port}")
    assert alice.final("OPTIONS").status == 200


def test_a_fetch_gets_one_notify_then_nothing(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    alice = ua_factory("alice", domain)
    ok, call_id = subscribe(alice, f"bob@{domain}", expires=0)
    assert ok.status == 200 and ok.headers.get("Expires") == "0"
    only = notify(alice, call_id)
    assert only.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert pidf.summary(only.body.decode()).basic == "closed"
    started = time.monotonic()
    with pytest.raises(AssertionError):
        notify(alice, call_id, timeout=1.5)
    assert time.monotonic() - started >= 1.4


def test_reg_event_package_across_replicas(ua_factory, domain: str, replica_b: SipProcess) -> None:  # type: ignore[no-untyped-def]
    """RFC 3680: the account's own registration state, subscribed on one replica, registered on the other."""
    ns = "{urn:ietf:params:xml:ns:reginfo}"
    alice = ua_factory("alice", domain)
    phone = ua_factory("alice", domain, port=replica_b.port)
    ok, call_id = subscribe(alice, f"alice@{domain}", event="reg")
    assert ok.status == 200
    first = notify(alice, call_id)
    assert first.content_type == "application/reginfo+xml"
    root = ElementTree.fromstring(first.body)
    assert root.get("version") == "0" and root.get("state") == "full"
    registration = root.find(f"{ns}registration")
    assert registration is not None and registration.get("state") == "init"
    assert registration.get("aor") == f"sip:alice@{domain}"
    assert phone.register(expires=120).status == 200  # through the other replica
    second = ElementTree.fromstring(notify(alice, call_id, timeout=10).body)
    assert second.get("version") == "1"
    contacts = second.findall(f"{ns}registration/{ns}contact")
    assert [c.findtext(f"{ns}uri") for c in contacts] == [phone.contact]
    assert contacts[0].get("state") == "active" and 0 < int(contacts[0].get("expires") or 0) <= 120
    assert phone.register(expires=0).status == 200
    third = ElementTree.fromstring(notify(alice, call_id, timeout=10).body)
    assert third.get("version") == "2"
    assert third.find(f"{ns}registration").get("state") == "init"  # type: ignore[union-attr]
    # Only the account itself may watch its registrations.
    bob = ua_factory("bob", domain)
    assert subscribe(bob, f"alice@{domain}", event="reg")[0].status == 403


def test_a_notify_answered_481_ends_the_subscription_and_tcp_gets_its_notify_on_the_connection(  # type: ignore[no-untyped-def]
    ua_factory, domain: str
) -> None:
    alice, bob = ua_factory("alice", domain, transport="TCP"), ua_factory("bob", domain)
    ok, call_id = subscribe(alice, f"bob@{domain}")
    assert ok.status == 200 and ";transport=tcp" in (ok.headers.get("Contact") or "")
    first = alice.expect(lambda m: isinstance(m, Request) and m.method == "NOTIFY" and m.call_id == call_id)
    assert isinstance(first, Request) and first.top_via is not None and first.top_via.transport == "TCP"
    alice.respond(first, 481, "Subscription Does Not Exist")
    assert publish(bob, status_doc(f"sip:bob@{domain}", "open")).status == 200
    with pytest.raises(AssertionError):
        notify(alice, call_id, timeout=2)  # the subscription is gone: nothing more comes


def test_publication_expiry_is_noticed_when_the_publishing_replica_died(  # type: ignore[no-untyped-def]
    ua_factory, domain: str, sip_suite: SipSuite
) -> None:
    """The farm: bob publishes through a replica that then dies (kill -9); the watcher's replica
    still reads the publication from the `presence` bucket and notices its expiry by itself."""
    doomed = sip_suite.start_sip("sip-doomed", **SIP_ENV)
    alice, bob = ua_factory("alice", domain), ua_factory("bob", domain, port=doomed.port)
    ok, call_id = subscribe(alice, f"bob@{domain}")
    assert ok.status == 200
    assert pidf.summary(notify(alice, call_id).body.decode()).basic == "closed"
    assert publish(bob, status_doc(f"sip:bob@{domain}", "open", "brb"), expires=4).status == 200
    assert pidf.summary(notify(alice, call_id).body.decode()) == pidf.Summary("open", "brb")
    doomed.process.kill()
    lapsed = notify(alice, call_id, timeout=10)
    assert pidf.summary(lapsed.body.decode()).basic == "closed"
