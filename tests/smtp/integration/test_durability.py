"""Kill -9 of the smtp process in the middle of a stream of messages from a real
client: every message that got `250` after DATA must be in the mailbox."""

from __future__ import annotations

import smtplib
import threading
import time

import pytest

from tests.smtp.integration.conftest import DOMAIN, SmtpSuite

pytestmark = pytest.mark.timeout(240)

ALICE = f"alice@{DOMAIN}"
SENDER = "stream@remote.test"


def numbered(n: int) -> bytes:
    return (
        f"From: <{SENDER}>\r\nTo: <{ALICE}>\r\nSubject: stream {n}\r\nMessage-ID: <stream-{n}@remote.test>\r\n\r\n"
        f"message number {n}\r\n"
    ).encode()


class Sender(threading.Thread):
    """A client that sends numbered messages until told to stop, reconnecting
    after the server vanishes, as an MTA retrying its queue would."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.accepted: list[int] = []
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
                    while not self.stop.is_set():
                        n += 1
                        client.sendmail(SENDER, [ALICE], numbered(n))  # raises unless 250
                        self.accepted.append(n)
            except (OSError, smtplib.SMTPException):
                self.failed += 1  # the message in flight may or may not be stored
                time.sleep(0.05)


def wait_for(condition, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_kill_9_loses_no_accepted_message(smtp_suite: SmtpSuite) -> None:
    sender = Sender(smtp_suite.mx_port)
    sender.start()
    try:
        wait_for(lambda: len(sender.accepted) >= 30, 60, "messages were accepted")
        smtp_suite.smtp.kill()  # SIGKILL, mid-stream
        killed_after = len(sender.accepted)
        smtp_suite.smtp.start()
        wait_for(lambda: len(sender.accepted) >= killed_after + 30, 120, "accepting resumed after the restart")
    finally:
        sender.stop.set()
        sender.join(30)
    assert sender.failed >= 1, "the kill interrupted the client"

    stored = smtp_suite.inbox("alice@example.test")
    numbers = set()
    for body in stored:
        for line in body.split(b"\r\n"):
            if line.startswith(b"Subject: stream "):
                numbers.add(int(line.removeprefix(b"Subject: stream ")))
    missing = sorted(set(sender.accepted) - numbers)
    assert not missing, f"accepted but not stored: {missing}"
