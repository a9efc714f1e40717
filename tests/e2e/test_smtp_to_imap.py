"""A message sent over SMTP reaches an idling IMAP client within a second, with `parley up`.

directory, storage, smtp and imap run as `parley up` supervises them; Python's
smtplib sends to the MX listener, a scripted IMAP session idles on INBOX.
SPF and DKIM checks are off: the test machine has no DNS to ask.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.testing.ports import free_ports
from libs.testing.suite import RunningSuite, start_suite, stop_suite

pytestmark = pytest.mark.timeout(240)

ALICE = "alice@example.test"
PASSWORD = "s3cret pass"


@pytest.fixture(scope="module")
def mail_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSuite, int, int]]:
    mx, imaps, imap = free_ports(3)
    env = {
        "PARLEY_SMTP_MX_PORT": str(mx), "PARLEY_SMTP_SUBMISSION_PORT": "0", "PARLEY_SMTP_SUBMISSIONS_PORT": "0",
        "PARLEY_SMTP_LMTP_PORT": "0", "PARLEY_SMTP_SPF_ENABLED": "false", "PARLEY_SMTP_DKIM_VERIFY_ENABLED": "false",
        "PARLEY_SMTP_HOSTNAME": "mx.example.test", "PARLEY_IMAP_PORT": str(imap), "PARLEY_IMAP_TLS_PORT": str(imaps),
    }  # fmt: skip
    running = start_suite(tmp_path_factory.mktemp("smtp-imap"), services="directory,storage,smtp,imap", env=env)
    try:
        yield running, mx, imaps
    finally:
        stop_suite(running)
        print(running.log()[-10_000:])


def parley(suite: RunningSuite, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "parley"
    return subprocess.run([str(script), *args], env=suite.env, capture_output=True, text=True, timeout=60)


class Imap:
    def __init__(self, port: int) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
        self.buffer = b""
        self.line()

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def command(self, text: str) -> list[bytes]:
        tag = text.split(" ", 1)[0].encode()
        self.sock.sendall(text.encode() + b"\r\n")
        lines = [self.line()]
        while not lines[-1].startswith(tag + b" "):
            lines.append(self.line())
        return lines


def test_smtp_delivery_reaches_an_idling_imap_client_within_a_second(
    mail_suite: tuple[RunningSuite, int, int],
) -> None:
    suite, mx, imaps = mail_suite
    assert parley(suite, "admin", "domain", "create", "example.test").returncode == 0
    assert parley(suite, "admin", "account", "create", ALICE, "--password", PASSWORD).returncode == 0
    client = Imap(imaps)
    assert client.command(f'a1 LOGIN {ALICE} "{PASSWORD}"')[-1].startswith(b"a1 OK")
    reply = client.command("a2 SELECT INBOX")
    exists = int(next(line.split()[1] for line in reply if line.endswith(b"EXISTS")))
    client.sock.sendall(b"a3 IDLE\r\n")
    assert client.line() == b"+ idling"
    message = f"From: bob@example.org\r\nTo: {ALICE}\r\nSubject: over SMTP\r\n\r\nHello Alice\r\n"
    with smtplib.SMTP("127.0.0.1", mx, timeout=30) as smtp:
        smtp.sendmail("bob@example.org", [ALICE], message)
    accepted = time.monotonic()
    assert client.line() == b"* %d EXISTS" % (exists + 1)
    assert time.monotonic() - accepted < 1.0
    client.sock.sendall(b"DONE\r\n")
    assert client.line().startswith(b"a3 OK")
    reply = client.command(f"a4 FETCH {exists + 1} (BODY.PEEK[TEXT] ENVELOPE)")
    assert b"Hello Alice" in b"\r\n".join(reply) and b'"over SMTP"' in b"\r\n".join(reply)
    reply = client.command(f"a5 FETCH {exists + 1} (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: over SMTP" in b"\r\n".join(reply)
    client.command("a6 LOGOUT")
