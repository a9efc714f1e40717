"""End of data for mail that leaves the store: queueing remote recipients, and the Sent copy.

Remote recipients are those an authenticated user sent to outside our
domains, and the remote targets of our forwarders (whoever sent to the
forwarder). They are queued as one `OutboundMessage` carrying the blob's
digest and every DSN parameter: RET and ENVID of MAIL, NOTIFY and ORCPT of
each RCPT. A forwarded recipient gets ORCPT `rfc822;<the forwarder>` when
the client gave none (RFC 3461 section 4.2), so a bounce names the address
the sender actually used. The reverse path is kept as it was (no SRS yet).

The Sent copy: a message submitted by an authenticated user is appended,
`\\Seen`, to the user's `\\Sent` mailbox (RFC 6154) when the account setting
`mail.save_sent` is true. It is off by default because most mail clients
save their own copy over IMAP, and a second copy would surprise their
users. A failed Sent copy is logged and counted, but does not
fail the message: it has been delivered and queued already, and a 4xx now
would make the client send it to every recipient again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from libs.bus import Bus
from libs.contracts import directory, storage
from libs.contracts.errors import ServiceError
from libs.contracts.smtp import Notify, OutboundMessage, OutboundRecipient, Return
from libs.log import get_logger
from services.smtp import _outbound_metrics, _queue
from services.smtp.protocol import Address, BodyType, Envelope

_log = get_logger()

SAVE_SENT_SETTING = "mail.save_sent"
SAVE_SENT_DEFAULT = False


def outbound_message(
    *,
    message_id: str,
    digest: str,
    size: int,
    envelope: Envelope,
    remote: Mapping[Address, Sequence[str]],
    account: str | None,
    now: datetime | None = None,
) -> OutboundMessage | None:
    """The queue entry for the remote targets of `envelope`'s recipients; None if there are none."""
    recipients: dict[str, OutboundRecipient] = {}
    for rcpt in envelope.recipients:
        for target in remote.get(rcpt.address, ()):
            orcpt = rcpt.params.orcpt
            if orcpt is not None:
                original: str | None = f"{orcpt.address_type};{orcpt.address}"
            elif target.lower() != rcpt.address.text.lower():
                original = f"rfc822;{rcpt.address.text}"  # forwarded: name the address the sender used
            else:
                original = None
            notify = sorted(rcpt.params.notify, key=list(Notify).index) if rcpt.params.notify else None
            recipients.setdefault(
                target.lower(),
                OutboundRecipient(
                    address=target, notify=[Notify(n.value) for n in notify] if notify else None, orcpt=original
                ),
            )
    if not recipients:
        return None
    params = envelope.mail_params
    return OutboundMessage(
        message_id=message_id,
        blob=digest,
        size=size,
        reverse_path="" if envelope.reverse_path is None else envelope.reverse_path.text,
        recipients=list(recipients.values()),
        ret=Return(params.ret.value) if params.ret is not None else None,
        envid=params.envid,
        smtputf8=params.smtputf8,
        eight_bit=params.body is BodyType.EIGHT_BIT_MIME,
        account=account,
        arrived_at=now or datetime.now(UTC),
    )


async def queue(bus: Bus, message: OutboundMessage) -> bool:
    """Hold the body and queue the message; True once JetStream acknowledged it."""
    try:
        await _queue.enqueue(bus, message)
    except _queue.QueueUnavailable as exc:
        _log.warning("smtp.outbound.queue_failed", message_id=message.message_id, error=str(exc))
        return False
    _outbound_metrics.RECIPIENTS.labels("queued").inc(len(message.recipients))
    _log.info("smtp.outbound.queued", message_id=message.message_id, blob=message.blob,
              rcpts=[r.address for r in message.recipients], account=message.account)  # fmt: skip
    return True


def wants_sent_copy(settings: Mapping[str, Any]) -> bool:
    """`mail.save_sent` as a dotted key or nested (`{"mail": {"save_sent": true}}`)."""
    if SAVE_SENT_SETTING in settings:
        return settings[SAVE_SENT_SETTING] is True
    mail = settings.get("mail")
    if isinstance(mail, Mapping) and "save_sent" in mail:
        return mail["save_sent"] is True
    return SAVE_SENT_DEFAULT


async def save_sent(bus: Bus, *, account: str, digest: str) -> bool | None:
    """Append to the account's \\Sent mailbox if its settings ask; None when they do not."""
    try:
        info = await bus.request(
            directory.RPC_ACCOUNT_GET, directory.AccountGetRequest(address=account), directory.AccountInfo
        )
        if not wants_sent_copy(info.settings):
            return None
        listing = await bus.request(
            storage.RPC_MAILBOX_LIST, storage.MailboxListRequest(account=account), storage.MailboxListReply
        )
        sent = next((m.name for m in listing.mailboxes if m.special_use == "\\Sent"), None)
        if sent is None:
            _log.warning("smtp.sent_copy.failed", account=account, reason="no \\Sent mailbox")
            _outbound_metrics.SENT_COPIES.labels("failed").inc()
            return False
        request = storage.AppendRequest(
            account=account, mailbox=sent, blob=digest, flags=["\\Seen"], internal_date=datetime.now(UTC)
        )
        await bus.request(storage.RPC_APPEND, request, storage.AppendReply, timeout=60.0)
    except ServiceError as exc:
        _log.warning("smtp.sent_copy.failed", account=account, error=str(exc))
        _outbound_metrics.SENT_COPIES.labels("failed").inc()
        return False
    _outbound_metrics.SENT_COPIES.labels("saved").inc()
    _log.info("smtp.sent_copy.saved", account=account, mailbox=sent)
    return True
