"""Sending a DSN back to the sender of a queued message.

The DSN (composed by `_dsn.py`) goes into the blob store and then to the
reverse path: straight into the sender's INBOX through storage when the
directory says the address is ours, else into the outbound queue like any
other remote message, with the null reverse path `<>`. A message whose own
reverse path is null gets no DSN at all (RFC 5321 section 4.5.5, RFC 3464
section 2): that is what stops bounce loops.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from libs.blobs import BlobStore
from libs.bus import Bus
from libs.contracts import directory
from libs.contracts.errors import ServiceError
from libs.contracts.smtp import OutboundMessage, OutboundRecipient, Return
from libs.log import get_logger
from services.smtp import _dsn, _outbound_metrics, _queue

_log = get_logger()

DeliverLocal = Callable[[str, Sequence[str]], Awaitable[bool]]


class Notifier:
    def __init__(
        self, *, bus: Bus, blobs: BlobStore, hostname: str, full_max_bytes: int, deliver_local: DeliverLocal
    ) -> None:
        self.bus = bus
        self.blobs = blobs
        self.hostname = hostname
        self.full_max_bytes = full_max_bytes
        self.deliver_local = deliver_local

    async def notify(self, message: OutboundMessage, statuses: Sequence[_dsn.RecipientStatus], content: bytes) -> bool:
        """Send one DSN covering `statuses`; True when it is stored or queued (or not needed)."""
        if not statuses or not message.reverse_path:
            return True
        headers_only = message.ret is Return.HEADERS or len(content) > self.full_max_bytes
        report = _dsn.compose(
            reporting_mta=self.hostname,
            recipient=message.reverse_path,
            statuses=statuses,
            original=content,
            headers_only=headers_only,
            envid=message.envid,
            arrived_at=message.arrived_at,
            queue_id=message.message_id,
        )
        log = _log.bind(message_id=message.message_id, to=message.reverse_path, action=statuses[0].action.value)
        try:
            ref = await self.blobs.put(report)
            answer = await self.bus.request(
                directory.RPC_RESOLVE, directory.ResolveRequest(address=message.reverse_path), directory.ResolveReply
            )
            if answer.status is directory.ResolveStatus.LOCAL and answer.accounts:
                if not await self.deliver_local(ref.digest, answer.accounts):
                    log.warning("smtp.dsn.failed", reason="local delivery failed")
                    return False
            elif answer.status is directory.ResolveStatus.REMOTE or answer.remote:
                targets = answer.remote or [message.reverse_path]
                await _queue.enqueue(self.bus, bounce_message(ref.digest, ref.size, targets, eight_bit=True))
            else:
                log.info("smtp.dsn.dropped", reason=f"reverse path is {answer.status.value}")
                return True
        except (ServiceError, _queue.QueueUnavailable, OSError) as exc:
            log.warning("smtp.dsn.failed", error=repr(exc))
            return False
        _outbound_metrics.DSNS.labels(statuses[0].action.value).inc()
        log.info("smtp.dsn.sent", recipients=[s.address for s in statuses])
        return True


def bounce_message(digest: str, size: int, targets: Sequence[str], *, eight_bit: bool) -> OutboundMessage:
    return OutboundMessage(
        message_id=f"dsn-{uuid.uuid4().hex[:16]}",
        blob=digest,
        size=size,
        reverse_path="",  # RFC 3464 section 2: a DSN is sent with the null reverse path
        recipients=[OutboundRecipient(address=t) for t in targets],
        eight_bit=eight_bit,
        arrived_at=datetime.now(UTC),
    )
