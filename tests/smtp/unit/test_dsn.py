"""DSN composition (RFC 3464), parsed back with the standard library's email package."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import Message

from services.smtp._dsn import Action, RecipientStatus, compose, header_block, strip_return_path

ORIGINAL = (
    b"Return-Path: <carol@example.test>\r\n"
    b"Received: from client ([127.0.0.1])\r\n\tby mx.example.test with ESMTPSA id abc;\r\n\tThu, 1 Jan 2026\r\n"
    b"From: Carol <carol@example.test>\r\nTo: <friend@elsewhere.test>\r\nSubject: hello there\r\n"
    b"Message-ID: <m1@example.test>\r\n\r\nThe body text.\r\n"
)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def failed(address: str = "friend@elsewhere.test", **extra: object) -> RecipientStatus:
    return RecipientStatus(
        address=address, action=Action.FAILED, status="5.1.1", diagnostic="550 5.1.1 No such user",
        remote_mta="mx.elsewhere.test", last_attempt=NOW, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def status_blocks(report: Message) -> list[Message]:
    part = report.get_payload()[1]
    assert part.get_content_type() == "message/delivery-status"
    return part.get_payload()


def test_failure_report_structure_and_fields() -> None:
    raw = compose(
        reporting_mta="mx.example.test", recipient="carol@example.test", statuses=[failed(orcpt="rfc822;alias@x.test")],
        original=ORIGINAL, headers_only=False, envid="ENV-42", arrived_at=NOW, queue_id="q1", now=NOW,
    )  # fmt: skip
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    report = parse(raw)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert report["To"] == "<carol@example.test>"
    assert report["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.test>"
    assert report["Auto-Submitted"] == "auto-replied"
    assert report["Subject"] == "Undelivered Mail Returned to Sender"
    human, status, original = report.get_payload()
    assert human.get_content_type() == "text/plain"
    assert "friend@elsewhere.test" in human.get_payload()
    per_message, per_recipient = status_blocks(report)
    assert per_message["Reporting-MTA"] == "dns; mx.example.test"
    assert per_message["Original-Envelope-Id"] == "ENV-42"
    assert per_message["Arrival-Date"]
    assert per_recipient["Final-Recipient"] == "rfc822; friend@elsewhere.test"
    assert per_recipient["Original-Recipient"] == "rfc822;alias@x.test"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert per_recipient["Remote-MTA"] == "dns; mx.elsewhere.test"
    assert per_recipient["Diagnostic-Code"] == "smtp; 550 5.1.1 No such user"
    assert original.get_content_type() == "message/rfc822"
    returned = original.get_payload()[0]
    assert returned["Subject"] == "hello there"
    assert returned["Return-Path"] is None  # ours, not the sender's
    assert "The body text." in returned.get_payload()


def test_headers_only_when_asked() -> None:
    raw = compose(reporting_mta="mx.example.test", recipient="carol@example.test", statuses=[failed()],
                  original=ORIGINAL, headers_only=True, now=NOW)  # fmt: skip
    original = parse(raw).get_payload()[2]
    assert original.get_content_type() == "text/rfc822-headers"
    assert "Subject: hello there" in original.get_payload()
    assert "The body text." not in original.get_payload()


def test_several_recipients_and_delayed_fields() -> None:
    delayed = RecipientStatus(address="b@elsewhere.test", action=Action.DELAYED, status="4.4.1",
                              diagnostic="451 4.4.1 try later", will_retry_until=NOW)  # fmt: skip
    raw = compose(reporting_mta="mx.example.test", recipient="carol@example.test", statuses=[failed(), delayed],
                  original=ORIGINAL, headers_only=False, now=NOW)  # fmt: skip
    blocks = status_blocks(parse(raw))
    assert [b["Action"] for b in blocks[1:]] == ["failed", "delayed"]
    assert blocks[2]["Will-Retry-Until"]


def test_remote_text_cannot_inject_fields() -> None:
    evil = RecipientStatus(address="x@elsewhere.test", action=Action.FAILED, status="5.0.0",
                           diagnostic="550 bad\r\nAction: delivered")  # fmt: skip
    raw = compose(reporting_mta="mx.example.test", recipient="c@example.test", statuses=[evil],
                  original=ORIGINAL, headers_only=True, now=NOW)  # fmt: skip
    (_, block) = status_blocks(parse(raw))
    assert block.get_all("Action") == ["failed"]


def test_helpers() -> None:
    assert strip_return_path(ORIGINAL).startswith(b"Received:")
    assert strip_return_path(b"Subject: x\r\n\r\n") == b"Subject: x\r\n\r\n"
    assert header_block(ORIGINAL).endswith(b"Message-ID: <m1@example.test>\r\n\r\n")
