"""Delivery status notifications (RFC 3464): the bounce a sender gets back.

A DSN is a `multipart/report; report-type=delivery-status` (RFC 6522) with
three parts: a human-readable explanation, the machine-readable
`message/delivery-status` (one block for the message, one per recipient),
and the original message — whole as `message/rfc822`, or only its header as
`text/rfc822-headers` when the sender asked for RET=HDRS (RFC 3461 section
4.3) or the message is too large to send back.

The DSN itself travels with a null reverse path (`MAIL FROM:<>`, RFC 5321
section 4.5.5 and RFC 3464 section 2), so it can never cause another bounce,
and says `Auto-Submitted: auto-replied` (RFC 3834) so that vacation
responders stay quiet.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum


class Action(StrEnum):
    """Action field of a per-recipient block (RFC 3464 section 2.3.3)."""

    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"
    EXPANDED = "expanded"


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    address: str
    action: Action
    status: str  # enhanced status code, e.g. 5.1.1 (RFC 3463)
    diagnostic: str = ""  # the remote server's reply, "550 5.1.1 No such user"
    remote_mta: str = ""
    orcpt: str | None = None  # "rfc822;addr" as given by ORCPT
    last_attempt: datetime | None = None
    will_retry_until: datetime | None = None


SUBJECTS = {
    Action.FAILED: "Undelivered Mail Returned to Sender",
    Action.DELAYED: "Delayed Mail (still being retried)",
    Action.DELIVERED: "Successful Mail Delivery Report",
    Action.RELAYED: "Mail Relay Report",
    Action.EXPANDED: "Successful Mail Delivery Report",
}


def strip_return_path(content: bytes) -> bytes:
    """Drop the `Return-Path:` we put in front at receipt (a relay must not pass it on,
    RFC 5321 section 4.4); the rest is the message as the client sent it plus `Received:`."""
    if content[:12].lower() == b"return-path:":
        end = content.find(b"\r\n")
        if end >= 0:
            return content[end + 2 :]
    return content


def header_block(content: bytes) -> bytes:
    """The header section of a message, up to and including the empty line."""
    end = content.find(b"\r\n\r\n")
    return content if end < 0 else content[: end + 4]


def compose(
    *,
    reporting_mta: str,
    recipient: str,
    statuses: Sequence[RecipientStatus],
    original: bytes,
    headers_only: bool,
    envid: str | None = None,
    arrived_at: datetime | None = None,
    queue_id: str = "",
    now: datetime | None = None,
) -> bytes:
    """The complete DSN message, CRLF line ends, addressed to `recipient` (the original reverse path)."""
    now = now or datetime.now(UTC)
    boundary = f"=_dsn_{uuid.uuid4().hex}"
    action = statuses[0].action if statuses else Action.FAILED
    original = strip_return_path(original)
    head = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{recipient}>",
        f"Subject: {SUBJECTS[action]}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: <{uuid.uuid4().hex}@{reporting_mta}>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "Content-Transfer-Encoding: 8bit",
        "",
        "This is a MIME-encapsulated delivery status notification.",
        "",
    ]
    parts = [
        _human_part(reporting_mta, statuses, queue_id),
        _status_part(reporting_mta, statuses, envid=envid, arrived_at=arrived_at),
        _original_part(original, headers_only=headers_only),
    ]
    body = "\r\n".join(head).encode()
    for part in parts:
        body += f"--{boundary}\r\n".encode() + part + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def _human_part(reporting_mta: str, statuses: Sequence[RecipientStatus], queue_id: str) -> bytes:
    lines = [f"This is the mail system at {reporting_mta}.", ""]
    failed = [s for s in statuses if s.action is Action.FAILED]
    delayed = [s for s in statuses if s.action is Action.DELAYED]
    done = [s for s in statuses if s.action in (Action.DELIVERED, Action.RELAYED, Action.EXPANDED)]
    if failed:
        lines += ["Your message could not be delivered to one or more recipients.", "It is attached below.", ""]
    if delayed:
        lines += ["Your message has not been delivered yet to some recipients.",
                  "The mail system will keep trying; you need not send it again.", ""]  # fmt: skip
    if done:
        lines += ["Your message was delivered (or passed on) as you asked to be told.", ""]
    for status in statuses:
        reason = status.diagnostic or f"status {status.status}"
        lines.append(f"<{status.address}>: {status.action.value}: {reason}")
    if queue_id:
        lines += ["", f"Queue id: {queue_id}"]
    text = "\r\n".join(lines) + "\r\n"
    return b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text.encode()


def _status_part(
    reporting_mta: str, statuses: Sequence[RecipientStatus], *, envid: str | None, arrived_at: datetime | None
) -> bytes:
    # RFC 3464 section 2.2: per-message fields, then one block per recipient (2.3),
    # blocks separated by an empty line.
    message = [f"Reporting-MTA: dns; {reporting_mta}"]
    if envid:
        message.append(f"Original-Envelope-Id: {_field(envid)}")
    if arrived_at is not None:
        message.append(f"Arrival-Date: {format_datetime(arrived_at)}")
    blocks = ["\r\n".join(message)]
    for status in statuses:
        block: list[str] = []
        if status.orcpt:
            block.append(f"Original-Recipient: {_field(status.orcpt)}")
        block += [
            f"Final-Recipient: rfc822; {status.address}",
            f"Action: {status.action.value}",
            f"Status: {status.status}",
        ]
        if status.remote_mta:
            block.append(f"Remote-MTA: dns; {status.remote_mta}")
        if status.diagnostic:
            block.append(f"Diagnostic-Code: smtp; {_field(status.diagnostic)}")
        if status.last_attempt is not None:
            block.append(f"Last-Attempt-Date: {format_datetime(status.last_attempt)}")
        if status.will_retry_until is not None:
            block.append(f"Will-Retry-Until: {format_datetime(status.will_retry_until)}")
        blocks.append("\r\n".join(block))
    text = "\r\n\r\n".join(blocks) + "\r\n"
    return b"Content-Type: message/delivery-status\r\n\r\n" + text.encode()


def _original_part(original: bytes, *, headers_only: bool) -> bytes:
    if headers_only:
        return b"Content-Type: text/rfc822-headers\r\n\r\n" + header_block(original)
    return b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + original


def _field(value: str) -> str:
    """One header line: no CR/LF from a remote reply or an envelope id can start a new field."""
    return " ".join(value.split())[:900]
