"""Mail into the suite over real sockets: smtplib (and swaks) against the smtp process,
with the message checked in the recipient's INBOX through storage."""

from __future__ import annotations

import base64
import re
import smtplib
import socket
import ssl
import subprocess
import threading
import time
import uuid

import httpx
import pytest

from libs.auth import scram
from tests.smtp.integration.conftest import (
    COMMAND_TIMEOUT,
    DOMAIN,
    HOSTNAME,
    MAX_CONNECTIONS_PER_CLIENT,
    PASSWORD,
    SmtpSuite,
)

pytestmark = pytest.mark.timeout(120)

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
CAROL = f"carol@{DOMAIN}"
DAVE = f"dave@{DOMAIN}"
SENDER = "sender@remote.test"


def message(marker: str) -> bytes:
    return (
        f"From: <{SENDER}>\r\nTo: <{ALICE}>\r\nSubject: {marker}\r\nMessage-ID: <{marker}@remote.test>\r\n\r\n"
        "Hello Alice,\r\n.leading dot stays\r\n\r\nbye\r\n"
    ).encode()


def no_verify() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def stored_with(suite: SmtpSuite, account: str, marker: str) -> list[bytes]:
    return [m for m in suite.inbox(account) if f"Subject: {marker}".encode() in m]


TRACE = re.compile(
    rb"Return-Path: <(?P<sender>[^>]*)>\r\n"
    rb"Received: from (?P<helo>\S+) \(\[127\.0\.0\.1\]\)\r\n"
    rb"\tby " + re.escape(HOSTNAME.encode()) + rb" with (?P<protocol>\S+) id \w+"
    rb"(?:\r\n\tfor <(?P<rcpt>[^>]+)>)?;\r\n"
    rb"\t[^\r\n]+\r\n"
    rb"(?P<authres>Authentication-Results: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)?"
)


def split_trace(stored: bytes) -> tuple[re.Match[bytes], bytes]:
    match = TRACE.match(stored)
    assert match is not None, stored[:400]
    return match, stored[match.end() :]


class Raw:
    """A plain socket client for what smtplib will not send."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=COMMAND_TIMEOUT + 10)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> list[str]:
        """One (possibly multi-line) reply, as its lines."""
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                return lines
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return lines

    def command(self, text: str) -> list[str]:
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


# --- MX -----------------------------------------------------------------------------------------


def test_mx_delivers_to_inbox_byte_exact(smtp_suite: SmtpSuite) -> None:
    marker = f"mx-{uuid.uuid4().hex}"
    body = message(marker)
    with smtplib.SMTP("127.0.0.1", smtp_suite.mx_port, local_hostname="client.remote.test") as client:
        assert client.sendmail(SENDER, [ALICE], body) == {}
    (stored,) = stored_with(smtp_suite, ALICE, marker)
    trace, rest = split_trace(stored)
    assert rest == body
    assert trace["sender"] == SENDER.encode()
    assert trace["helo"] == b"client.remote.test"
    assert trace["protocol"] == b"ESMTP"
    assert trace["rcpt"] == ALICE.encode()


def test_unknown_local_recipient_is_refused_at_rcpt(smtp_suite: SmtpSuite) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_suite.mx_port) as client:
        client.ehlo()
        assert client.mail(SENDER)[0] == 250
        code, text = client.rcpt(f"nobody@{DOMAIN}")
        assert (code, text[:5]) == (550, b"5.1.1")


def test_mx_is_not_an_open_relay(smtp_suite: SmtpSuite) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_suite.mx_port) as client:
        client.ehlo()
        client.mail(SENDER)
        code, text = client.rcpt("someone@elsewhere.test")
        assert (code, text[:5]) == (554, b"5.7.1")


def test_starttls_on_mx(smtp_suite: SmtpSuite) -> None:
    marker = f"tls-{uuid.uuid4().hex}"
    with smtplib.SMTP("127.0.0.1", smtp_suite.mx_port) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert client.starttls(context=no_verify())[0] == 220
        client.ehlo()
        assert not client.has_extn("starttls")
        client.sendmail(SENDER, [ALICE], message(marker))
    (stored,) = stored_with(smtp_suite, ALICE, marker)
    assert split_trace(stored)[0]["protocol"] == b"ESMTPS"


# --- submission -------------------------------------------------------------------------------


def test_submission_needs_auth_before_mail(smtp_suite: SmtpSuite) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_suite.submission_port) as client:
        client.ehlo()
        assert not client.has_extn("auth")  # offered only under TLS
        code, text = client.mail(CAROL)
        assert (code, text[:5]) == (530, b"5.7.0")


def test_submission_auth_plain_right_and_wrong_password(smtp_suite: SmtpSuite) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_suite.submission_port) as client:
        client.starttls(context=no_verify())
        client.ehlo()
        assert "PLAIN" in client.esmtp_features["auth"]
        code, _ = client.docmd("AUTH", "PLAIN " + _plain(CAROL, "wrong password"))
        assert code == 535
        code, _ = client.docmd("AUTH", "PLAIN " + _plain(CAROL, PASSWORD))
        assert code == 235
        marker = f"sub-{uuid.uuid4().hex}"
        assert client.sendmail(CAROL, [ALICE], message(marker)) == {}
    (stored,) = stored_with(smtp_suite, ALICE, marker)
    assert split_trace(stored)[0]["protocol"] == b"ESMTPSA"


def test_submission_auth_login_and_remote_recipient(smtp_suite: SmtpSuite) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_suite.submission_port) as client:
        client.starttls(context=no_verify())
        client.ehlo()
        client.user, client.password = CAROL, PASSWORD
        assert client.auth("LOGIN", client.auth_login, initial_response_ok=False)[0] == 235
        client.mail(CAROL)
        code, text = client.rcpt("friend@elsewhere.test")
        assert (code, text[:5]) == (250, b"2.1.5")  # relayed for authenticated users (tests/smtp/outbound)
        client.rset()


def test_submissions_implicit_tls(smtp_suite: SmtpSuite) -> None:
    marker = f"smtps-{uuid.uuid4().hex}"
    with smtplib.SMTP_SSL("127.0.0.1", smtp_suite.submissions_port, context=no_verify()) as client:
        client.login(CAROL, PASSWORD)
        client.sendmail(CAROL, [ALICE], message(marker))
    assert len(stored_with(smtp_suite, ALICE, marker)) == 1


def _plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


# --- quota: per recipient ----------------------------------------------------------------------


def test_full_mailbox_is_refused_at_rcpt_and_the_others_get_the_message(smtp_suite: SmtpSuite) -> None:
    marker = f"quota-{uuid.uuid4().hex}"
    with smtplib.SMTP("127.0.0.1", smtp_suite.mx_port) as client:
        # smtplib sends SIZE=, so bob's quota (10 bytes) is checked at RCPT.
        refused = client.sendmail(SENDER, [ALICE, BOB, DAVE], message(marker))
    assert {rcpt: (code, text[:5]) for rcpt, (code, text) in refused.items()} == {
        BOB: (452, b"4.2.2"),
        DAVE: (452, b"4.2.2"),
    }
    assert len(stored_with(smtp_suite, ALICE, marker)) == 1
    assert stored_with(smtp_suite, BOB, marker) == []


def test_quota_failure_after_data_fails_the_whole_smtp_message(smtp_suite: SmtpSuite) -> None:
    marker = f"quota-data-{uuid.uuid4().hex}"
    with smtplib.SMTP("127.0.0.1", smtp_suite.mx_port) as client:
        client.ehlo()
        client.mail(SENDER)  # no SIZE: the quota can only be checked by storage
        assert client.rcpt(ALICE)[0] == 250
        assert client.rcpt(BOB)[0] == 250
        code, text = client.data(message(marker))
    # One reply for all: the client keeps the message and retries (a duplicate for
    # alice is better than a loss for bob; RFC 5321 section 6.1).
    assert (code, text[:5]) == (452, b"4.2.2")


def test_lmtp_answers_each_recipient(smtp_suite: SmtpSuite) -> None:
    marker = f"lmtp-{uuid.uuid4().hex}"
    raw = Raw(smtp_suite.lmtp_port)
    try:
        assert raw.reply()[0].startswith("220")
        assert raw.command("LHLO client.test")[-1].startswith("250")
        assert raw.command(f"MAIL FROM:<{SENDER}>")[0].startswith("250")
        assert raw.command(f"RCPT TO:<{ALICE}>")[0].startswith("250")
        assert raw.command(f"RCPT TO:<{BOB}>")[0].startswith("250")
        assert raw.command("DATA")[0].startswith("354")
        raw.send(message(marker) + b".\r\n")
        first, second = raw.reply(), raw.reply()
        assert first[0].startswith("250 2.0.0"), first
        assert second[0].startswith("452 4.2.2"), second
    finally:
        raw.close()
    (stored,) = stored_with(smtp_suite, ALICE, marker)
    assert split_trace(stored)[0]["protocol"] == b"LMTP"


# --- hostile input -----------------------------------------------------------------------------


SMUGGLED_ENDS = [b"\n.\n", b"\r\n.\n", b"\n.\r\n"]


@pytest.mark.parametrize("smuggled", SMUGGLED_ENDS, ids=["lf-dot-lf", "crlf-dot-lf", "lf-dot-crlf"])
def test_smuggled_end_of_data_does_not_end_the_message(smtp_suite: SmtpSuite, smuggled: bytes) -> None:
    marker = f"smuggle-{uuid.uuid4().hex}"
    raw = Raw(smtp_suite.mx_port)
    try:
        raw.reply()
        raw.command("EHLO client.test")
        assert raw.command(f"MAIL FROM:<{SENDER}>")[0].startswith("250")
        assert raw.command(f"RCPT TO:<{ALICE}>")[0].startswith("250")
        assert raw.command("DATA")[0].startswith("354")
        raw.send(
            f"Subject: {marker}\r\n\r\nhello".encode()
            + smuggled
            + f"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n".encode()
            + f"Subject: {marker}-forged\r\n\r\n.\r\n".encode()
        )
        answer = raw.reply()
        # The core refuses bare newlines in DATA (550 5.5.2) and closes; no smuggled command is answered.
        assert answer[0].startswith("550 5.5.2"), answer
        assert raw.reply() == []
    finally:
        raw.close()
    assert [m for m in smtp_suite.inbox(ALICE) if marker.encode() in m] == []


def test_junk_without_line_end_is_cut_off_and_others_are_served(smtp_suite: SmtpSuite) -> None:
    raw = Raw(smtp_suite.mx_port)
    try:
        assert raw.reply()[0].startswith("220")
        started = time.monotonic()
        sender = threading.Thread(target=lambda: _send_quietly(raw, b"A" * (1024 * 1024)))
        sender.start()
        marker = f"while-junk-{uuid.uuid4().hex}"
        with smtplib.SMTP("127.0.0.1", smtp_suite.mx_port) as client:
            assert client.sendmail(SENDER, [ALICE], message(marker)) == {}
        sender.join(30)
        answer = raw.reply()
        assert answer and answer[0].startswith("421 4.4.2"), answer
        assert raw.reply() == []
        assert time.monotonic() - started < COMMAND_TIMEOUT + 10
    finally:
        raw.close()
    assert len(stored_with(smtp_suite, ALICE, marker)) == 1


def test_overlong_line_gets_500_and_session_goes_on(smtp_suite: SmtpSuite) -> None:
    raw = Raw(smtp_suite.mx_port)
    try:
        raw.reply()
        raw.send(b"A" * (1024 * 1024) + b"\r\n")
        assert raw.reply()[0].startswith("500 5.5.2")
        assert raw.command("NOOP")[0].startswith("250")
    finally:
        raw.close()


def _send_quietly(raw: Raw, data: bytes) -> None:
    try:
        raw.send(data)
    except OSError:
        pass


# --- a real client -----------------------------------------------------------------------------


def test_swaks_delivers_to_inbox(smtp_suite: SmtpSuite) -> None:
    marker = f"swaks-{uuid.uuid4().hex}"
    result = subprocess.run(
        ["swaks", "--to", ALICE, "--from", SENDER, "--server", f"127.0.0.1:{smtp_suite.mx_port}",
         "--header", f"Subject: {marker}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (stored,) = stored_with(smtp_suite, ALICE, marker)
    assert split_trace(stored)[1].startswith(b"Date: ")


def test_plaintext_injected_after_starttls_is_dropped(smtp_suite: SmtpSuite) -> None:
    raw = Raw(smtp_suite.mx_port)
    try:
        raw.reply()
        raw.command("EHLO client.test")
        # CVE-2011-0411: a command pipelined behind STARTTLS must not run under TLS.
        raw.send(b"STARTTLS\r\nMAIL FROM:<injected@remote.test>\r\n")
        assert raw.reply()[0].startswith("220")
        raw.file.close()
        raw.sock = no_verify().wrap_socket(raw.sock, server_hostname="localhost")
        raw.file = raw.sock.makefile("rb")
        raw.command("EHLO client.test")
        # Had the injected MAIL run, this MAIL would be refused as a nested transaction (503).
        assert raw.command(f"MAIL FROM:<{SENDER}>")[0].startswith("250 ")
    finally:
        raw.close()


def _scram_login(suite: SmtpSuite, password: str) -> tuple[list[str], Raw]:
    raw = Raw(suite.submissions_port)
    raw.sock = no_verify().wrap_socket(raw.sock, server_hostname="localhost")
    raw.file = raw.sock.makefile("rb")
    raw.reply()
    assert "250-AUTH SCRAM-SHA-256 PLAIN LOGIN" in raw.command("EHLO client.test")
    client_first_bare = f"n={CAROL},r=clientnonce123"
    first = raw.command("AUTH SCRAM-SHA-256 " + b64(f"n,,{client_first_bare}"))
    assert first[0].startswith("334 "), first
    server_first = base64.b64decode(first[0][4:]).decode()
    fields = dict(part.split("=", 1) for part in server_first.split(","))
    assert fields["r"].startswith("clientnonce123")
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}"
    proof, signature = scram.client_proof(
        password, salt=base64.b64decode(fields["s"]), iterations=int(fields["i"]), auth_message=auth_message
    )
    final = raw.command(b64(f"{without_proof},p={proof}"))
    if final[0].startswith("334 "):
        assert base64.b64decode(final[0][4:]).decode() == f"v={signature}"
        final = raw.command("")
    return final, raw


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_submissions_auth_scram_sha_256(smtp_suite: SmtpSuite) -> None:
    final, raw = _scram_login(smtp_suite, PASSWORD)
    try:
        assert final[0].startswith("235 2.7.0"), final
        assert raw.command(f"MAIL FROM:<{CAROL}>")[0].startswith("250")
    finally:
        raw.close()
    final, raw = _scram_login(smtp_suite, "not the password")
    raw.close()
    assert final[0].startswith("535 5.7.8"), final


def test_too_many_connections_from_one_address_are_refused(smtp_suite: SmtpSuite) -> None:
    clients = [Raw(smtp_suite.mx_port) for _ in range(MAX_CONNECTIONS_PER_CLIENT)]
    try:
        for client in clients:
            assert client.reply()[0].startswith("220")
        extra = Raw(smtp_suite.mx_port)
        assert extra.reply()[0].startswith("421 4.7.0")
        extra.close()
    finally:
        for client in clients:
            client.close()
    time.sleep(0.5)  # the server notices the closes
    again = Raw(smtp_suite.mx_port)
    assert again.reply()[0].startswith("220")
    again.close()


def test_ops_endpoints(smtp_suite: SmtpSuite) -> None:
    base = f"http://127.0.0.1:{smtp_suite.ops_port}"
    assert httpx.get(f"{base}/readyz").json()["checks"] == {"bus": True, "listeners": True}
    assert "parley_smtp_sessions_total" in httpx.get(f"{base}/metrics").text
