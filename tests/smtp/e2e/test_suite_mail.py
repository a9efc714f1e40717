"""SMTP through the whole suite as `parley up` runs it, with the mail tools people use:
swaks delivers to a user's INBOX over the MX, and msmtp submits with AUTH over
STARTTLS to a remote domain, which the outbound queue hands to a loopback
"remote" server (an aiosmtpd sink reached through the static route table)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from libs.blobs import LocalBlobStore
from libs.bus import Bus
from libs.contracts import storage
from libs.testing.dnsserver import DnsServer
from libs.testing.ports import free_ports
from libs.testing.suite import RunningSuite, start_suite, stop_suite

pytestmark = pytest.mark.timeout(240)

DOMAIN = "suite.test"
ALICE = f"alice@{DOMAIN}"
PASSWORD = "suite-e2e-password"
REMOTE = "friend@remote.test"


@dataclass
class Sink:
    """The remote domain's server: takes every message and keeps it."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or b""))
        return "250 2.0.0 Queued"


@dataclass
class Running:
    suite: RunningSuite
    ports: dict[str, int]
    sink: Sink


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_ports(1)[0])
    controller.start()
    names = ("SMTP_MX", "SMTP_SUBMISSION", "SMTP_SUBMISSIONS", "SMTP_LMTP")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    with DnsServer() as dns:
        dns.txt("example.net", "v=spf1 ip4:127.0.0.1 -all")
        env = {f"PARLEY_{name}_PORT": str(port) for name, port in ports.items()}
        env |= {
            "PARLEY_SMTP_DNS_SERVERS": dns.address,
            "PARLEY_SMTP_HOSTNAME": "mx.suite.test",
            "PARLEY_SMTP_OUTBOUND_ROUTES": json.dumps({"remote.test": f"127.0.0.1:{controller.port}"}),
        }
        suite = start_suite(tmp_path_factory.mktemp("suite-mail"), services="directory,storage,smtp", env=env)
        try:
            parley(suite, "admin", "domain", "create", DOMAIN)
            parley(suite, "admin", "account", "create", ALICE, "--password", PASSWORD)
            yield Running(suite, ports, sink)
        finally:
            stop_suite(suite)
            controller.stop()
            print(suite.log()[-10_000:])


def parley(suite: RunningSuite, *args: str) -> None:
    script = Path(sys.executable).parent / "parley"
    result = subprocess.run([str(script), *args], env=suite.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def inbox(suite: RunningSuite, account: str) -> list[bytes]:
    async def read() -> list[bytes]:
        bus = await Bus.open(suite.env["PARLEY_NATS_URL"], name="smtp-e2e")
        blobs = LocalBlobStore(suite.data_dir / "blobs")
        try:
            request = storage.FetchRequest(
                account=account, mailbox="INBOX", uids=[storage.UidRange(first=1)], items=["blob"]
            )
            reply = await bus.request(storage.RPC_FETCH, request, storage.FetchReply)
            return [await blobs.get(m.blob) for m in reply.messages if m.blob]
        finally:
            await blobs.close()
            await bus.close()

    return asyncio.run(read())


def test_swaks_over_the_mx_lands_in_the_inbox(running: Running) -> None:
    marker = f"swaks-{uuid.uuid4().hex}"
    result = subprocess.run(
        ["swaks", "--to", ALICE, "--from", "someone@example.net", "--server", f"127.0.0.1:{running.ports['SMTP_MX']}",
         "--header", f"Subject: {marker}", "--body", "Hello from swaks"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0" in result.stdout
    stored = [m for m in inbox(running.suite, ALICE) if marker.encode() in m]
    assert len(stored) == 1
    assert b"Hello from swaks" in stored[0]
    assert b"Authentication-Results: mx.suite.test;" in stored[0] and b"spf=pass" in stored[0]


def test_msmtp_submission_reaches_the_remote_domain(running: Running, tmp_path: Path) -> None:
    config = tmp_path / "msmtprc"
    config.write_text(
        "account parley\n"
        "host 127.0.0.1\n"
        f"port {running.ports['SMTP_SUBMISSION']}\n"
        "tls on\ntls_starttls on\ntls_certcheck off\n"
        "auth on\n"
        f"user {ALICE}\npassword {PASSWORD}\n"
        f"from {ALICE}\n"
        "account default : parley\n"
    )
    config.chmod(0o600)
    marker = f"msmtp-{uuid.uuid4().hex}"
    message = f"From: {ALICE}\nTo: {REMOTE}\nSubject: {marker}\n\nsubmitted with msmtp\n"
    result = subprocess.run(
        ["msmtp", "-C", str(config), REMOTE], input=message, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 60
    while not any(marker.encode() in content for _, _, content in running.sink.messages):
        assert time.monotonic() < deadline, "the remote server got the message"
        time.sleep(0.1)
    sender, recipients, content = next(m for m in running.sink.messages if marker.encode() in m[2])
    assert sender == ALICE and recipients == [REMOTE]
    assert b"submitted with msmtp" in content
