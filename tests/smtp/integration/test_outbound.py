"""Remote delivery through MAIL_OUTBOUND: two smtp processes, loopback aiosmtpd sinks as remote servers.

The suite has its own nats-server (its own queue), a directory, storage and
two smtp replicas that share the queue. The static route table sends each
test domain to one sink on 127.0.0.1:

- ok.test: answers 250;
- flaky.test: 451 to the first RCPT of each address, 250 afterwards;
- reject.test: 550 to every RCPT;
- nowhere.test: a port where nobody listens;
- tls.test: answers 250 and offers STARTTLS (a self-signed certificate);
- stall.test: holds the first RCPT of each address for half a minute, then 250.

Other domains go by MX records from a test DNS server: mx-routed.test has an
MX pointing at localhost (reached on the ok sink's port), nullmx.test a null MX.

Retries start after half a second and messages are given up after fifteen
seconds, so retry and bounce paths run in test time. Waits are bounded
polls; nothing here asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import smtplib
import ssl
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import dkim
import httpx
import pytest
from aiosmtpd.controller import Controller

from libs.blobs import LocalBlobStore
from libs.bus import Bus
from libs.contracts import storage as contract
from libs.testing.dnsserver import DnsServer
from libs.testing.natsd import NatsServer
from libs.testing.ports import free_ports
from libs.testing.services import ServiceProcess
from libs.tls import ensure_self_signed
from tests.storage.conftest import ADMIN_PASSWORD, start_directory, start_storage

pytestmark = pytest.mark.timeout(180)

DOMAIN = "example.test"
HOSTNAME = "mx.example.test"
PASSWORD = "correct horse battery staple"
CAROL = f"carol@{DOMAIN}"
ERIN = f"erin@{DOMAIN}"
GIVE_UP_AFTER = 15.0  # long enough for every retry here on a busy machine, short for the give-up test
WAIT = 60.0


# --- remote servers ---------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool


@dataclass
class Sink:
    """What a remote server does: answer RCPT (`mode`), and record every message it took."""

    mode: str  # ok, flaky, reject, stall
    messages: list[Received] = field(default_factory=list)
    rcpt_seen: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        with self.lock:
            self.rcpt_seen[address] += 1
            first = self.rcpt_seen[address] == 1
        if self.mode == "reject":
            return "550 5.1.1 No such user here"
        if self.mode == "flaky" and first:
            return "451 4.7.1 Greylisted, try again later"
        if self.mode == "stall" and first:
            await asyncio.sleep(30)  # the client is killed meanwhile; its transaction never ends
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or b"",
                    session.ssl is not None,
                )  # fmt: skip
            )
        return "250 2.0.0 Queued"

    def with_marker(self, marker: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if marker.encode() in m.content]


@dataclass
class Suite:
    nats_url: str
    admin_url: str
    blob_dir: Path
    replicas: list[ServiceProcess]
    submission_ports: list[int]
    mx_ports: list[int]
    ops_ports: list[int]
    sinks: dict[str, Sink]
    dkim_record: str = ""

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.admin_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30)

    def mailbox(self, account: str, name: str = "INBOX") -> list[tuple[bytes, list[str]]]:
        return asyncio.run(self._mailbox(account, name))

    async def _mailbox(self, account: str, name: str) -> list[tuple[bytes, list[str]]]:
        bus = await Bus.open(self.nats_url, name="smtp-outbound-tests")
        blobs = LocalBlobStore(self.blob_dir)
        try:
            uids = await bus.request(
                contract.RPC_UIDS, contract.UidsRequest(account=account, mailbox=name), contract.UidsReply
            )
            if not uids.uids:
                return []
            request = contract.FetchRequest(
                account=account, mailbox=name, uids=[contract.UidRange(first=1)], items=["blob", "flags"]
            )
            reply = await bus.request(contract.RPC_FETCH, request, contract.FetchReply)
            return [(await blobs.get(m.blob), m.flags or []) for m in reply.messages if m.blob]
        finally:
            await blobs.close()
            await bus.close()

    def metric(self, name: str, **labels: str) -> float:
        """The sum of one counter over both replicas."""
        total = 0.0
        wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for port in self.ops_ports:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            for line in text.splitlines():
                if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
                    total += float(line.rsplit(" ", 1)[1])
        return total


def start_sink(sink: Sink, port: int, tls: ssl.SSLContext | None = None) -> Controller:
    controller = Controller(sink, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True, tls_context=tls)
    controller.start()
    return controller


def server_tls(directory: Path) -> ssl.SSLContext:
    cert, key = directory / "sink-cert.pem", directory / "sink-key.pem"
    ensure_self_signed(cert, key, names=["sink.test"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    data_dir = tmp_path_factory.mktemp("smtp-outbound")
    blob_dir = data_dir / "blobs"
    blob_env = {"PARLEY_BLOB_BACKEND": "local", "PARLEY_BLOB_LOCAL_DIR": str(blob_dir)}
    sinks = {"ok.test": Sink("ok"), "flaky.test": Sink("flaky"), "reject.test": Sink("reject"), "tls.test": Sink("ok")}
    sinks["stall.test"] = Sink("stall")
    ok_port, flaky_port, reject_port, nowhere_port, tls_port, stall_port = free_ports(6)
    controllers = [
        start_sink(sinks["ok.test"], ok_port),
        start_sink(sinks["flaky.test"], flaky_port),
        start_sink(sinks["reject.test"], reject_port),
        start_sink(sinks["tls.test"], tls_port, server_tls(data_dir)),
        start_sink(sinks["stall.test"], stall_port),
    ]
    routes = {
        "stall.test": f"127.0.0.1:{stall_port}",
        "tls.test": f"127.0.0.1:{tls_port}",
        "ok.test": f"127.0.0.1:{ok_port}",
        "flaky.test": f"127.0.0.1:{flaky_port}",
        "reject.test": f"[127.0.0.1]:{reject_port}",
        "nowhere.test": f"127.0.0.1:{nowhere_port}",
    }
    processes: list[ServiceProcess] = []
    with NatsServer() as nats, DnsServer() as dns_server:  # no lookup ever leaves the machine
        dns_server.mx("mx-routed.test", "10 localhost.")  # MX hosts are reached on the ok sink's port
        dns_server.mx("nullmx.test", "0 .")
        try:
            directory, admin_url = start_directory(data_dir / "directory", nats.url)
            processes.append(directory)
            processes.append(
                start_storage(data_dir, nats.url, f"sqlite+aiosqlite:///{data_dir / 'storage.sqlite3'}", blob_env)
            )
            replicas, submission_ports, mx_ports, ops_ports = [], [], [], []
            for index in range(2):
                mx, submission, ops = free_ports(3)
                replica = ServiceProcess(
                    "smtp",
                    env={
                        "PARLEY_DATA_DIR": str(data_dir / f"smtp{index}"),
                        "PARLEY_NATS_URL": nats.url,
                        "PARLEY_LOG_FORMAT": "console",
                        "PARLEY_SMTP_MX_PORT": str(mx),
                        "PARLEY_SMTP_SUBMISSION_PORT": str(submission),
                        "PARLEY_SMTP_SUBMISSIONS_PORT": "0",
                        "PARLEY_SMTP_LMTP_PORT": "0",
                        "PARLEY_SMTP_OPS_PORT": str(ops),
                        "PARLEY_SMTP_HOSTNAME": HOSTNAME,
                        "PARLEY_SMTP_OUTBOUND_ROUTES": json.dumps(routes),
                        "PARLEY_SMTP_OUTBOUND_DEFAULT_PORT": str(ok_port),
                        "PARLEY_SMTP_DNS_SERVERS": dns_server.address,
                        "PARLEY_SMTP_OUTBOUND_RETRY_INITIAL": "0.5",
                        "PARLEY_SMTP_OUTBOUND_RETRY_MAX": "1",
                        "PARLEY_SMTP_OUTBOUND_GIVE_UP_AFTER": str(GIVE_UP_AFTER),
                        "PARLEY_SMTP_OUTBOUND_CONNECT_TIMEOUT": "3",
                        "PARLEY_SMTP_OUTBOUND_COMMAND_TIMEOUT": "20",
                        "PARLEY_SMTP_OUTBOUND_ACK_WAIT": "15",
                        **blob_env,
                    },
                    ops_port=ops,
                    data_dir=data_dir / f"smtp{index}",
                ).start()
                processes.append(replica)
                replicas.append(replica)
                submission_ports.append(submission)
                mx_ports.append(mx)
                ops_ports.append(ops)
            suite = Suite(nats.url, admin_url, blob_dir, replicas, submission_ports, mx_ports, ops_ports, sinks)
            with suite.admin() as admin:
                suite.dkim_record = _provision(admin)
            yield suite
        finally:
            for process in reversed(processes):
                process.stop()
            for controller in controllers:
                controller.stop()


def _provision(admin: httpx.Client) -> str:
    """Accounts, a forwarder, Erin's Sent setting, and a DKIM key; returns the key's TXT record."""
    assert admin.post("/domains", json={"name": DOMAIN}).status_code == 201
    for address in (CAROL, ERIN):
        reply = admin.post("/accounts", json={"address": address, "password": PASSWORD})
        assert reply.status_code == 201, reply.text
    reply = admin.post("/forwarders", json={"address": f"fwd@{DOMAIN}", "targets": ["far.friend@ok.test"]})
    assert reply.status_code == 201, reply.text
    reply = admin.patch(f"/accounts/{ERIN}/settings", json={"mail": {"save_sent": True}})
    assert reply.status_code == 200, reply.text
    reply = admin.post(f"/domains/{DOMAIN}/dkim", json={"selector": "s1", "algorithm": "ed25519"})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["dns_record"])


# --- helpers -----------------------------------------------------------------------------------------


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def no_verify() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def message(marker: str, sender: str = CAROL, to: str = "friend@ok.test") -> bytes:
    return (
        f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {marker}\r\nMessage-ID: <{marker}@example.test>\r\n\r\n"
        "Hello from Parley.\r\n.a leading dot\r\n"
    ).encode()


def submit(
    suite: Suite,
    sender: str,
    recipients: list[str],
    marker: str,
    *,
    replica: int = 0,
    account: str = CAROL,
    mail_options: tuple[str, ...] = (),
    rcpt_options: tuple[str, ...] = (),
) -> None:
    with smtplib.SMTP("127.0.0.1", suite.submission_ports[replica], timeout=30) as client:
        client.starttls(context=no_verify())
        client.login(account, PASSWORD)
        refused = client.sendmail(sender, recipients, message(marker, account, recipients[0]),
                                  mail_options=list(mail_options), rcpt_options=list(rcpt_options))  # fmt: skip
        assert refused == {}


def reports(suite: Suite, account: str, marker: str) -> list[Message]:
    """DSNs in the account's INBOX about the message with `marker`."""
    found = []
    for raw, _flags in suite.mailbox(account):
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        if parsed.get_content_type() == "multipart/report" and marker.encode() in raw:
            found.append(parsed)
    return found


def recipient_blocks(report: Message) -> list[Message]:
    status = report.get_payload()[1]
    assert status.get_content_type() == "message/delivery-status"
    return status.get_payload()[1:]


# --- tests -------------------------------------------------------------------------------------------


def test_submission_to_a_remote_domain_is_delivered(suite: Suite) -> None:
    marker = f"remote-{uuid.uuid4().hex}"
    submit(suite, CAROL, ["Friend@ok.test"], marker)
    (delivered,) = wait_for("delivery", lambda: suite.sinks["ok.test"].with_marker(marker))
    assert delivered.mail_from == CAROL
    assert delivered.rcpt_tos == ["Friend@ok.test"]  # the local part as the client wrote it
    header = delivered.content.split(b"\r\n\r\n")[0]
    assert b"Return-Path:" not in header  # only the final MTA adds one
    assert delivered.content.startswith(b"DKIM-Signature:")  # then our Received: field
    assert b"\r\nReceived: from " in header
    assert HOSTNAME.encode() in delivered.content.split(b"\r\n\r\n")[0]
    assert b"\r\n.a leading dot\r\n" in delivered.content
    assert not delivered.tls  # this sink offers no STARTTLS


def test_mx_without_auth_is_still_no_relay(suite: Suite) -> None:
    with smtplib.SMTP("127.0.0.1", suite.mx_ports[0], timeout=30) as client:
        client.ehlo()
        client.mail("someone@remote.test")
        code, text = client.rcpt("friend@ok.test")
        assert (code, text[:5]) == (554, b"5.7.1")


def test_swaks_submission_is_delivered(suite: Suite) -> None:
    marker = f"swaks-{uuid.uuid4().hex}"
    result = subprocess.run(
        ["swaks", "--to", "pal@ok.test", "--from", CAROL, "--server", f"127.0.0.1:{suite.submission_ports[1]}",
         "--tls", "--auth", "PLAIN", "--auth-user", CAROL, "--auth-password", PASSWORD,
         "--header", f"Subject: {marker}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (delivered,) = wait_for("delivery", lambda: suite.sinks["ok.test"].with_marker(marker))
    assert delivered.rcpt_tos == ["pal@ok.test"]


def test_forwarder_to_a_remote_address_is_queued_from_the_mx(suite: Suite) -> None:
    marker = f"forward-{uuid.uuid4().hex}"
    with smtplib.SMTP("127.0.0.1", suite.mx_ports[1], timeout=30) as client:
        assert client.sendmail("someone@remote.test", [f"fwd@{DOMAIN}"], message(marker, "someone@remote.test")) == {}
    (delivered,) = wait_for("forwarded delivery", lambda: suite.sinks["ok.test"].with_marker(marker))
    assert delivered.rcpt_tos == ["far.friend@ok.test"]
    assert delivered.mail_from == "someone@remote.test"


def test_temporary_failure_is_retried_and_delivered_once(suite: Suite) -> None:
    marker = f"flaky-{uuid.uuid4().hex}"
    rcpt = f"{marker}@flaky.test"
    submit(suite, CAROL, [rcpt], marker)
    wait_for("the retry", lambda: suite.sinks["flaky.test"].with_marker(marker))
    time.sleep(2.0)  # room for a wrong second delivery to show up
    assert len(suite.sinks["flaky.test"].with_marker(marker)) == 1
    assert suite.sinks["flaky.test"].rcpt_seen[rcpt] == 2
    assert reports(suite, CAROL, marker) == []  # no DSN for a delay without NOTIFY=DELAY


def test_permanent_failure_bounces_to_the_local_sender(suite: Suite) -> None:
    marker = f"reject-{uuid.uuid4().hex}"
    submit(suite, CAROL, ["nobody@reject.test"], marker, mail_options=("RET=HDRS", "ENVID=env-" + marker[-8:]))
    (report,) = wait_for("the bounce", lambda: reports(suite, CAROL, marker))
    assert report["From"].endswith(f"<MAILER-DAEMON@{HOSTNAME}>")
    assert report["Auto-Submitted"] == "auto-replied"
    per_message = report.get_payload()[1].get_payload()[0]
    assert per_message["Reporting-MTA"] == f"dns; {HOSTNAME}"
    assert per_message["Original-Envelope-Id"] == "env-" + marker[-8:]
    (block,) = recipient_blocks(report)
    assert block["Final-Recipient"] == "rfc822; nobody@reject.test"
    assert block["Action"] == "failed"
    assert block["Status"] == "5.1.1"
    assert block["Diagnostic-Code"].startswith("smtp; 550 5.1.1")
    assert block["Remote-MTA"] == "dns; 127.0.0.1"
    original = report.get_payload()[2]
    assert original.get_content_type() == "text/rfc822-headers"  # RET=HDRS
    assert f"Subject: {marker}" in original.get_payload()


def test_unreachable_route_gives_up_and_bounces(suite: Suite) -> None:
    marker = f"nowhere-{uuid.uuid4().hex}"
    submit(suite, CAROL, ["friend@nowhere.test"], marker)
    (report,) = wait_for("the give-up bounce", lambda: reports(suite, CAROL, marker), timeout=GIVE_UP_AFTER + WAIT)
    (block,) = recipient_blocks(report)
    assert (block["Action"], block["Status"]) == ("failed", "4.4.7")  # RFC 3463: delivery time expired
    assert "Connection" in block["Diagnostic-Code"]
    returned = report.get_payload()[2]
    assert returned.get_content_type() == "message/rfc822"
    assert returned.get_payload()[0]["Subject"] == marker


def test_null_sender_and_notify_never_get_no_bounce(suite: Suite) -> None:
    null_marker = f"null-{uuid.uuid4().hex}"
    never_marker = f"never-{uuid.uuid4().hex}"
    bounced_before = suite.metric("parley_smtp_outbound_recipients_total", result="bounced")
    dsns_before = suite.metric("parley_smtp_outbound_dsn_total", action="failed")
    submit(suite, "", [f"{null_marker}@reject.test"], null_marker)
    submit(suite, CAROL, [f"{never_marker}@reject.test"], never_marker, rcpt_options=("NOTIFY=NEVER",))
    wait_for(
        "both rejections",
        lambda: suite.metric("parley_smtp_outbound_recipients_total", result="bounced") >= bounced_before + 2,
    )
    time.sleep(1.0)
    assert suite.metric("parley_smtp_outbound_dsn_total", action="failed") == dsns_before
    assert reports(suite, CAROL, never_marker) == []


def test_notify_success_gets_a_relayed_report(suite: Suite) -> None:
    # The sink offers no DSN extension, so we report the hand-over ourselves (RFC 3461 section 6.2.2).
    marker = f"success-{uuid.uuid4().hex}"
    submit(suite, CAROL, ["pal@ok.test"], marker, rcpt_options=("NOTIFY=SUCCESS,FAILURE",))
    (report,) = wait_for("the success report", lambda: reports(suite, CAROL, marker))
    (block,) = recipient_blocks(report)
    assert (block["Action"], block["Status"]) == ("relayed", "2.0.0")


def test_two_replicas_share_the_queue_and_deliver_each_message_once(suite: Suite) -> None:
    markers = [f"shared-{index}-{uuid.uuid4().hex}" for index in range(12)]
    for index, marker in enumerate(markers):
        submit(suite, CAROL, [f"r{index}@ok.test", f"r{index}@flaky.test"], marker, replica=index % 2)
    sink_ok, sink_flaky = suite.sinks["ok.test"], suite.sinks["flaky.test"]
    wait_for("every delivery", lambda: all(sink_ok.with_marker(m) and sink_flaky.with_marker(m) for m in markers))
    time.sleep(2.0)
    assert [len(sink_ok.with_marker(m)) for m in markers] == [1] * len(markers)
    assert [len(sink_flaky.with_marker(m)) for m in markers] == [1] * len(markers)


def test_sent_copy_when_the_account_asks_for_it(suite: Suite) -> None:
    marker = f"sent-{uuid.uuid4().hex}"
    submit(suite, ERIN, ["pal@ok.test"], marker, account=ERIN)
    wait_for("delivery", lambda: suite.sinks["ok.test"].with_marker(marker))
    sent = [(raw, flags) for raw, flags in suite.mailbox(ERIN, "Sent") if marker.encode() in raw]
    assert len(sent) == 1 and "\\Seen" in sent[0][1]
    # Carol's settings do not ask for copies.
    other = f"nosent-{uuid.uuid4().hex}"
    submit(suite, CAROL, ["pal@ok.test"], other)
    assert not [raw for raw, _ in suite.mailbox(CAROL, "Sent") if other.encode() in raw]


def test_bounce_to_a_remote_sender_is_queued_with_a_null_reverse_path(suite: Suite) -> None:
    marker = f"remote-bounce-{uuid.uuid4().hex}"
    submit(suite, "writer@ok.test", ["nobody@reject.test"], marker)
    (bounce,) = wait_for("the queued bounce", lambda: suite.sinks["ok.test"].with_marker(marker))
    assert bounce.mail_from == "<>"  # aiosmtpd keeps the null path as written; RFC 3464 section 2
    assert bounce.rcpt_tos == ["writer@ok.test"]
    report = email.message_from_bytes(bounce.content, policy=email.policy.compat32)
    assert report.get_content_type() == "multipart/report"
    (block,) = recipient_blocks(report)
    assert block["Action"] == "failed"


def test_starttls_is_used_when_the_remote_server_offers_it(suite: Suite) -> None:
    marker = f"tls-{uuid.uuid4().hex}"
    submit(suite, CAROL, ["secure@tls.test"], marker)
    (delivered,) = wait_for("delivery", lambda: suite.sinks["tls.test"].with_marker(marker))
    assert delivered.tls  # ok.test offers no STARTTLS, and gets plain text (first test)


def test_notify_delay_gets_one_delayed_report_then_the_message_is_delivered(suite: Suite) -> None:
    marker = f"delay-{uuid.uuid4().hex}"
    submit(suite, CAROL, [f"{marker}@flaky.test"], marker, rcpt_options=("NOTIFY=DELAY,FAILURE",))
    wait_for("the retry", lambda: suite.sinks["flaky.test"].with_marker(marker))
    (report,) = wait_for("the delay report", lambda: reports(suite, CAROL, marker))
    (block,) = recipient_blocks(report)
    assert (block["Action"], block["Status"]) == ("delayed", "4.7.1")
    assert block["Will-Retry-Until"]
    assert report["Subject"].startswith("Delayed Mail")


def test_local_and_remote_recipients_in_one_message(suite: Suite) -> None:
    marker = f"mixed-{uuid.uuid4().hex}"
    submit(suite, CAROL, [ERIN, "mate@ok.test"], marker)
    (delivered,) = wait_for("remote delivery", lambda: suite.sinks["ok.test"].with_marker(marker))
    assert delivered.rcpt_tos == ["mate@ok.test"]
    local = [raw for raw, _ in suite.mailbox(ERIN) if marker.encode() in raw]
    assert len(local) == 1
    sent_on = delivered.content[delivered.content.index(b"Received: from ") :]
    assert local[0].endswith(sent_on)  # the same content; here behind Return-Path, there behind DKIM-Signature


def test_outgoing_mail_is_dkim_signed_with_the_domain_key(suite: Suite) -> None:
    marker = f"dkim-{uuid.uuid4().hex}"
    submit(suite, CAROL, ["signed@ok.test"], marker)
    (delivered,) = wait_for("delivery", lambda: suite.sinks["ok.test"].with_marker(marker))
    assert delivered.content.startswith(b"DKIM-Signature:")
    signature = email.message_from_bytes(delivered.content)["DKIM-Signature"]
    assert "d=example.test" in signature and "s=s1" in signature

    def txt(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.example.test."
        return suite.dkim_record.encode()

    assert dkim.verify(delivered.content, dnsfunc=txt)


def test_mx_records_route_a_domain_without_a_static_route(suite: Suite) -> None:
    marker = f"mx-{uuid.uuid4().hex}"
    submit(suite, CAROL, ["someone@mx-routed.test"], marker)
    (delivered,) = wait_for("delivery by MX", lambda: suite.sinks["ok.test"].with_marker(marker))
    assert delivered.rcpt_tos == ["someone@mx-routed.test"]


def test_null_mx_bounces_at_once(suite: Suite) -> None:
    marker = f"nullmx-{uuid.uuid4().hex}"
    submit(suite, CAROL, ["someone@nullmx.test"], marker)
    (report,) = wait_for("the bounce", lambda: reports(suite, CAROL, marker))
    (block,) = recipient_blocks(report)
    assert (block["Action"], block["Status"]) == ("failed", "5.1.10")  # RFC 7505 section 4.2


def test_a_killed_replica_leaves_its_message_to_the_other_one(suite: Suite) -> None:
    # Last in this module: it kills one replica (and starts it again).
    marker = f"crash-{uuid.uuid4().hex}"
    rcpt = f"{marker}@stall.test"
    submit(suite, CAROL, [rcpt], marker)
    wait_for("the first attempt", lambda: suite.sinks["stall.test"].rcpt_seen[rcpt] == 1)

    def busy_replica() -> list[int]:
        return [
            index
            for index, port in enumerate(suite.ops_ports)
            if "parley_smtp_outbound_in_flight 1.0" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        ]

    (busy,) = wait_for("the replica delivering", busy_replica)
    suite.replicas[busy].kill()
    try:
        # JetStream hears nothing from the dead worker and hands the message over after ack_wait.
        (delivered,) = wait_for("delivery by the other replica", lambda: suite.sinks["stall.test"].with_marker(marker))
        assert delivered.rcpt_tos == [rcpt]
        assert suite.sinks["stall.test"].rcpt_seen[rcpt] == 2
    finally:
        suite.replicas[busy].start()
