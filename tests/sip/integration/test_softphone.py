"""Two real softphones (baresip, headless) register, call each other and exchange a message through Parley.

Each phone has its own config directory and is driven over its `ctrl_tcp`
socket. Both register with digest (the bindings show up in `sip_locations`),
alice dials bob, bob's phone answers by itself (`answermode=auto`), both
report the call established, audio from a WAV file flows through the real
media relay the B2BUA anchors the call in (the `CallEnded` record carries
packets on both legs), alice hangs up and both see the call closed. Then
alice sends bob an instant message (RFC 3428) and bob's phone shows it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from libs.contracts import sip as contract
from libs.testing.ports import free_ports
from tests.sip.integration.baresip import Baresip, write_config
from tests.sip.integration.conftest import SipSuite
from tests.sip.integration.test_media_e2e import media_service
from tests.sip.integration.test_proxy import call_records

__all__ = ["media_service"]

# baresip 1.0 (libre) gives up on a 401 that carries any challenge but MD5 (RFC 8760's SHA-256 beside it): MD5 only.
SIP_ENV = {"PARLEY_SIP_DIGEST_ALGORITHMS": '["MD5"]'}
SECRET = "softphone-secret-7"


def bindings(nats_url: str, account: str) -> list[contract.Binding]:
    async def read() -> list[contract.Binding]:
        nc = await nats.connect(nats_url)
        try:
            bucket = await nc.jetstream().key_value(contract.LOCATION_BUCKET)
            try:
                entry = await bucket.get(contract.location_key(account))
            except nats.js.errors.KeyNotFoundError:
                return []
            return contract.LocationRecord.model_validate_json(entry.value or b"{}").bindings
        finally:
            await nc.close()

    return asyncio.run(read())


def registered_bindings(nats_url: str, account: str, timeout: float = 5.0) -> list[contract.Binding]:
    deadline = time.monotonic() + timeout
    while not (found := bindings(nats_url, account)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


@pytest.fixture
def phones(sip_suite: SipSuite, tmp_path: Path, media_service: str) -> Iterator[tuple[str, dict[str, Baresip]]]:
    """alice and bob's phones in a fresh domain; bob's answers calls by itself."""
    domain = sip_suite.new_domain(SECRET)
    started: dict[str, Baresip] = {}
    try:
        for user, extra in (("alice", ""), ("bob", ";answermode=auto")):
            sip_port, ctrl_port, rtp_low = free_ports(3)
            account = (
                f"<sip:{user}@{domain};transport=udp>;auth_pass={SECRET};"
                f"outbound=sip:127.0.0.1:{sip_suite.sip.port};regint=60{extra}"
            )
            contacts = [f"sip:{peer}@{domain}" for peer in ("alice", "bob") if peer != user]
            write_config(tmp_path / user, account, sip_port, ctrl_port, (rtp_low, rtp_low + 10), contacts)
            started[user] = Baresip(tmp_path / user, ctrl_port)
        yield domain, started
    finally:
        for phone in started.values():
            phone.stop()


def test_two_softphones_register_call_talk_hang_up_and_message(
    sip_suite: SipSuite, phones: tuple[str, dict[str, Baresip]]
) -> None:
    domain, started = phones
    alice, bob = started["alice"], started["bob"]
    for user in started:
        # The phones register as they start, maybe before their control socket is open: watch the registrar's side.
        registered = registered_bindings(sip_suite.nats_url, f"{user}@{domain}")
        assert len(registered) == 1 and "baresip" in registered[0].user_agent, registered

    alice.command("dial", f"sip:bob@{domain}")
    outgoing = alice.wait_event("CALL_ESTABLISHED", direction="outgoing")
    incoming = bob.wait_event("CALL_ESTABLISHED", direction="incoming", peeruri=f"sip:alice@{domain}")
    # Both hear the other: RTP from the relay arrives at each phone.
    alice.wait_event("CALL_RTPESTAB", id=outgoing["id"])
    bob.wait_event("CALL_RTPESTAB", id=incoming["id"])
    # A receiver report that counts packets from the far end, so there is audio for the relay to count.
    bob.wait_event_where("CALL_RTCP", lambda e: e["rtcp_stats"]["rx"]["sent"] > 20, timeout=10)
    alice.command("hangup")
    alice.wait_event("CALL_CLOSED")
    bob.wait_event("CALL_CLOSED")

    records = call_records(sip_suite.nats_url, outgoing["id"])
    assert [r["subject"] for r in records] == [contract.CALL_ATTEMPTED, contract.CALL_ANSWERED, contract.CALL_ENDED]
    ended = records[-1]["data"]
    assert ended["disconnected_by"] == "caller" and ended["ended_by"] == "bye", ended
    legs = ended["media"]
    assert len(legs) == 2 and all(leg["rtp"]["packets"] > 20 for leg in legs), json.dumps(legs)

    # An instant message (RFC 3428) to alice's one contact, bob; his phone shows it with the sender.
    alice.command("contact_next")
    reply = alice.command("message", "hello from alice")
    assert reply.get("ok"), reply
    bob.wait_log(f'sip:alice@{domain}: "hello from alice"')
