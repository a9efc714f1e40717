"""The whole suite as `parley up` runs it: a message sent over SMTP is fetched
over POP3, first by poplib (byte for byte against what smtp stored), then by
fetchmail, which drains the maildrop."""

from __future__ import annotations

import poplib
import smtplib
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.testing.ports import free_ports
from libs.testing.suite import RunningSuite, start_suite, stop_suite
from tests.pop3.integration.test_fetchmail import run_fetchmail

pytestmark = pytest.mark.timeout(240)

ACCOUNT = "erin@pop.test"
PASSWORD = "pop-e2e-password"
SERVICES = "directory,storage,smtp,pop3"


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RunningSuite, dict[str, int]]]:
    names = ("SMTP_MX", "SMTP_SUBMISSION", "SMTP_SUBMISSIONS", "SMTP_LMTP", "POP3_POP3", "POP3_POP3S")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    for name, port in ports.items():
        monkeypatch.setenv(f"PARLEY_{name}_PORT", str(port))
    running = start_suite(tmp_path, services=SERVICES)
    try:
        yield running, ports
    finally:
        stop_suite(running)
        print(running.log()[-10_000:])


def parley(suite: RunningSuite, *args: str) -> None:
    script = Path(sys.executable).parent / "parley"
    result = subprocess.run([str(script), *args], env=suite.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_smtp_in_pop3_out(suite: tuple[RunningSuite, dict[str, int]], tmp_path: Path) -> None:
    running, ports = suite
    parley(running, "admin", "domain", "create", "pop.test")
    parley(running, "admin", "account", "create", ACCOUNT, "--password", PASSWORD)
    body = "Subject: over the whole suite\r\n\r\n.a line with a dot\r\nbye\r\n"
    with smtplib.SMTP("127.0.0.1", ports["SMTP_MX"], timeout=30) as smtp:
        smtp.sendmail("sender@example.net", [ACCOUNT], body)

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client = poplib.POP3_SSL("127.0.0.1", ports["POP3_POP3S"], timeout=30, context=context)
    client.user(ACCOUNT)
    client.pass_(PASSWORD)
    assert client.stat()[0] == 1
    _, lines, _ = client.retr(1)
    fetched = b"".join(line + b"\r\n" for line in lines)
    # smtp put its trace headers in front of what it was given.
    assert fetched.startswith(b"Return-Path: <sender@example.net>\r\nReceived: ")
    assert fetched.endswith(body.encode())
    assert client.list()[1] == [b"1 %d" % len(fetched)]
    client.quit()

    code, log, delivered = run_fetchmail(tmp_path, port=ports["POP3_POP3"], account=ACCOUNT, implicit_tls=False,
                                         password=PASSWORD)  # fmt: skip
    assert code == 0, log
    assert delivered == [fetched.replace(b"\r\n", b"\n")]
    client = poplib.POP3_SSL("127.0.0.1", ports["POP3_POP3S"], timeout=30, context=context)
    client.user(ACCOUNT)
    client.pass_(PASSWORD)
    assert client.stat() == (0, 0)
    client.quit()
