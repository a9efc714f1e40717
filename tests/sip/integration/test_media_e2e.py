"""End to end: two sipp phones, one pretending to be behind NAT, talk through the real media relay.

The sip service anchors the call (B2BUA) in a real media service process on
the same NATS server. The caller (`uac_nat_call.xml`) writes 10.0.0.99 in its
SDP but sends its RTP from 127.0.0.1; the callee (`uas_anchored.xml`) echoes
every RTP packet back (`-rtp_echo`), so audio flows both ways only if the
relay sends to where the caller really is. The call is put on hold and
resumed, then hung up; the one `CallEnded` record must carry the relay's
counters with packets on both legs. A transfer (REFER) through the relay
moves the call to a second relay session.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.contracts import sip as contract
from libs.testing.ports import free_port, free_ports
from libs.testing.services import ServiceProcess
from tests.sip.integration.conftest import SipSuite
from tests.sip.integration.test_proxy import call_records
from tests.sip.integration.test_sipp import PASSWORD, errors, injection, sipp
from tests.sip.integration.test_sipp_b2bua import finish, register, start_uas

# sipp answers only MD5 challenges, and only the first one: offer MD5 first here.
SIP_ENV = {"PARLEY_SIP_DIGEST_ALGORITHMS": '["MD5", "SHA-256"]'}


@pytest.fixture(scope="module")
def media_service(sip_suite: SipSuite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real media node on the suite's NATS server, relaying on a random stretch of loopback ports."""
    low = random.randrange(41000, 60000, 2)
    ops = free_port()
    data_dir = tmp_path_factory.mktemp("media") / "media-e2e"
    process = ServiceProcess(
        "media",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": sip_suite.nats_url,
            "PARLEY_LOG_FORMAT": "console",
            "PARLEY_NODE_NAME": "media-e2e",
            "PARLEY_MEDIA_PORT_MIN": str(low),
            "PARLEY_MEDIA_PORT_MAX": str(low + 79),
            "PARLEY_MEDIA_BIND_ADDRESS": "127.0.0.1",
            "PARLEY_MEDIA_ADVERTISED_ADDRESS": "127.0.0.1",
            "PARLEY_MEDIA_OPS_PORT": str(ops),
        },
        ops_port=ops,
        data_dir=data_dir,
    ).start()
    yield "media-e2e"
    process.stop()


def the_call(sip_suite: SipSuite, call_id_of: str) -> list[dict]:  # type: ignore[type-arg]
    return call_records(sip_suite.nats_url, call_id_of)


def test_phone_behind_nat_talks_both_ways_through_the_relay(sip_suite: SipSuite, tmp_path: Path,
                                                            media_service: str) -> None:  # fmt: skip
    domain = sip_suite.new_domain(PASSWORD)
    uas_port, uac_port, uas_media, uac_media = free_ports(4)
    register(sip_suite, tmp_path, "bob", domain, uas_port)
    (tmp_path / "audio.ulaw").write_bytes(b"\xff" * 16000)  # two seconds of u-law silence
    uas, uas_err = start_uas("uas_anchored.xml", tmp_path, uas_port, "-mi", "127.0.0.1", "-mp", str(uas_media),
                             "-rtp_echo")  # fmt: skip
    inf = injection(tmp_path, "uac", [f"alice;bob;{domain}"])
    try:
        call = sipp("uac_nat_call.xml", f"127.0.0.1:{sip_suite.sip.port}", inf, "-mi", "127.0.0.1", "-mp",
                    str(uac_media), "-trace_msg", "-message_file", str(tmp_path / "uac.msg"), port=uac_port,
                    timeout=30)  # fmt: skip
        assert call.returncode == 0, call.stdout[-2000:] + errors(inf)
    finally:
        finish(uas, uas_err)
    messages = (tmp_path / "uac.msg").read_text(errors="replace")
    call_id = messages.split("Call-ID: ", 1)[1].split("\n", 1)[0].strip()
    records = the_call(sip_suite, call_id)
    assert [r["subject"] for r in records] == [contract.CALL_ATTEMPTED, contract.CALL_ANSWERED, contract.CALL_ENDED]
    ended = records[-1]["data"]
    assert ended["disconnected_by"] == "caller" and ended["ended_by"] == "bye"
    legs = ended["media"]
    assert len(legs) == 2, legs
    caller_leg = next(leg for leg in legs if leg["endpoint"].endswith(f":{uac_media}"))
    callee_leg = next(leg for leg in legs if leg is not caller_leg)
    # The relay latched the caller at its real address (not 10.0.0.99) and relayed both directions.
    assert caller_leg["endpoint"] == f"127.0.0.1:{uac_media}" and caller_leg["latched"]
    assert caller_leg["rtp"]["packets"] > 20, legs
    assert callee_leg["rtp"]["packets"] > 20 and callee_leg["endpoint"] == f"127.0.0.1:{uas_media}", legs


def test_blind_transfer_through_the_relay(sip_suite: SipSuite, tmp_path: Path, media_service: str) -> None:
    domain = sip_suite.new_domain(PASSWORD)
    bob_port, carol_port, uac_port = free_ports(3)
    register(sip_suite, tmp_path, "bob", domain, bob_port)
    register(sip_suite, tmp_path, "carol", domain, carol_port)
    bob, bob_err = start_uas("uas_refer.xml", tmp_path, bob_port, "-key", "transfer_to", f"carol@{domain}")
    carol, carol_err = start_uas("uas_answer.xml", tmp_path, carol_port)
    inf = injection(tmp_path, "uac", [f"alice;bob;{domain}"])
    try:
        call = sipp("uac_transferred.xml", f"127.0.0.1:{sip_suite.sip.port}", inf, "-trace_msg", "-message_file",
                    str(tmp_path / "uac.msg"), port=uac_port, timeout=30)  # fmt: skip
        assert call.returncode == 0, call.stdout[-2000:] + errors(inf)
    finally:
        finish(bob, bob_err)
        finish(carol, carol_err)
    messages = (tmp_path / "uac.msg").read_text(errors="replace")
    call_id = messages.split("Call-ID: ", 1)[1].split("\n", 1)[0].strip()
    records = the_call(sip_suite, call_id)
    ended = [r["data"] for r in records if r["subject"] == contract.CALL_ENDED]
    assert len(ended) == 1 and ended[0]["disconnected_by"] == "caller"
    assert len(ended[0]["media"]) == 4  # alice-bob's session, then alice-carol's
