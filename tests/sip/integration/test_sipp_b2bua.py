"""sipp phones through the B2BUA, with the fake media relay on NATS answering on loopback ports.

- A phone behind NAT (`uac_nat_call.xml`: its SDP says 10.0.0.99, its RTP
  leaves from 127.0.0.1) calls a sipp callee (`uas_anchored.xml`, echoing
  RTP), streams audio, holds and resumes with re-INVITEs, hangs up. The relay
  stand-in hands out ports that this test listens on, so it sees the caller's
  RTP arrive at the relay address the B2BUA gave it, from its real address.
- Blind transfer: the callee (`uas_refer.xml`) REFERs the caller to carol
  (`uas_answer.xml`); the caller (`uac_transferred.xml`) hangs up on carol.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.contracts import sip as contract
from libs.testing.ports import free_ports
from tests.sip.fake_media import FakeMediaResponder
from tests.sip.integration.conftest import SipSuite
from tests.sip.integration.test_proxy import call_records
from tests.sip.integration.test_sipp import PASSWORD, SCENARIOS, errors, injection, register_row, sipp

# sipp answers only MD5 challenges, and only the first one: offer MD5 first here.
SIP_ENV = {"PARLEY_SIP_DIGEST_ALGORITHMS": '["MD5", "SHA-256"]'}


class Sinks:
    """UDP sockets standing in for the relay's ports: what arrives, from where."""

    def __init__(self, count: int) -> None:
        self.sockets = []
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            self.sockets.append(sock)

    @property
    def ports(self) -> list[int]:
        return [s.getsockname()[1] for s in self.sockets]

    def sources(self) -> dict[tuple[str, int], int]:
        seen: dict[tuple[str, int], int] = {}
        for sock in self.sockets:
            while True:
                try:
                    _, source = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                seen[source] = seen.get(source, 0) + 1
        return seen

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    made = Sinks(8)
    yield made
    made.close()


@pytest.fixture(scope="module")
def relay(sip_suite: SipSuite, sinks: Sinks) -> Iterator[FakeMediaResponder]:
    responder = FakeMediaResponder(sip_suite.nats_url, host="127.0.0.1", ports=sinks.ports).start()
    yield responder
    responder.stop()


def start_uas(scenario: str, tmp_path: Path, port: int, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    err = tmp_path / f"uas-{port}.err"
    process = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin",
         "-timeout", "30s", "-timeout_error", "-trace_err", "-error_file", str(err), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    return process, err


def finish(process: subprocess.Popen[str], err: Path) -> None:
    try:
        out, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, out[-2000:] + stderr[-2000:] + (err.read_text()[-2000:] if err.exists() else "")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def register(sip_suite: SipSuite, tmp_path: Path, user: str, domain: str, contact_port: int) -> None:
    (port,) = free_ports(1)
    reg = injection(tmp_path, f"register-{user}", [register_row(user, domain, f"127.0.0.1:{contact_port}")])
    result = sipp("register_auth.xml", f"127.0.0.1:{sip_suite.sip.port}", reg, port=port)
    assert result.returncode == 0, result.stdout[-2000:] + errors(reg)


def test_sipp_phone_behind_nat_with_hold_and_resume(sip_suite: SipSuite, tmp_path: Path, relay: FakeMediaResponder,
                                                    sinks: Sinks) -> None:  # fmt: skip
    domain = sip_suite.new_domain(PASSWORD)
    uas_port, uac_port, uas_media, uac_media = free_ports(4)
    register(sip_suite, tmp_path, "bob", domain, uas_port)
    (tmp_path / "audio.ulaw").write_bytes(b"\xff" * 16000)  # two seconds of u-law silence
    uas, uas_err = start_uas("uas_anchored.xml", tmp_path, uas_port, "-mi", "127.0.0.1", "-mp", str(uas_media),
                             "-rtp_echo")  # fmt: skip
    try:
        inf = injection(tmp_path, "uac", [f"alice;bob;{domain}"])
        call = sipp("uac_nat_call.xml", f"127.0.0.1:{sip_suite.sip.port}", inf, "-mi", "127.0.0.1", "-mp",
                    str(uac_media), port=uac_port, timeout=30)  # fmt: skip
        assert call.returncode == 0, call.stdout[-2000:] + errors(inf)
    finally:
        finish(uas, uas_err)
    sources = sinks.sources()
    # The caller's RTP reached the relay address it was given, from its real address, not 10.0.0.99.
    assert sources.get(("127.0.0.1", uac_media), 0) > 10, sources
    first = next(r for c, r in relay.relay.requests if c == "offer" and "c=IN IP4 10.0.0.99" in r.sdp)  # type: ignore[attr-defined]
    assert first.received_from == "127.0.0.1"  # type: ignore[attr-defined]
    call_id = first.call_id  # type: ignore[attr-defined]
    offers = [r for c, r in relay.relay.requests if c == "offer" and r.call_id == call_id]  # type: ignore[attr-defined]
    assert len(offers) == 3  # the INVITE, the hold and the resume, on the same session
    assert relay.relay.commands(call_id).count("delete") == 1
    records = call_records(sip_suite.nats_url, call_id)
    assert [r["subject"] for r in records] == [contract.CALL_ATTEMPTED, contract.CALL_ANSWERED, contract.CALL_ENDED]
    ended = records[-1]["data"]
    assert ended["disconnected_by"] == "caller" and ended["media"]


def test_sipp_blind_transfer(sip_suite: SipSuite, tmp_path: Path, relay: FakeMediaResponder) -> None:
    domain = sip_suite.new_domain(PASSWORD)
    bob_port, carol_port, uac_port = free_ports(3)
    register(sip_suite, tmp_path, "bob", domain, bob_port)
    register(sip_suite, tmp_path, "carol", domain, carol_port)
    bob, bob_err = start_uas("uas_refer.xml", tmp_path, bob_port, "-key", "transfer_to", f"carol@{domain}")
    carol, carol_err = start_uas("uas_answer.xml", tmp_path, carol_port)
    try:
        inf = injection(tmp_path, "uac", [f"alice;bob;{domain}"])
        call = sipp("uac_transferred.xml", f"127.0.0.1:{sip_suite.sip.port}", inf, port=uac_port, timeout=30)
        assert call.returncode == 0, call.stdout[-2000:] + errors(inf)
    finally:
        finish(bob, bob_err)
        finish(carol, carol_err)
