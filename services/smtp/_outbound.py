"""Delivery workers: take queued messages from `MAIL_OUTBOUND` and send them to remote servers.

How this works
--------------
Every smtp process pulls from the one durable consumer (`smtp-delivery`) of
the work-queue stream, at most `PARLEY_SMTP_OUTBOUND_WORKERS` messages at a
time. JetStream hands each message to one puller; while a worker is busy
with it, it tells JetStream so every third of `ack_wait` (`in_progress`),
and a worker that dies stops doing that, so the message goes to another
replica after `ack_wait`. A message is acknowledged — and leaves the stream —
only after its outcome is settled: so several replicas share the queue and a
message delivered successfully is not delivered twice (short of a crash
between the remote server's `250` and the ack, where RFC 5321 section 6.1
prefers a duplicate to a loss).

One attempt: recipients are grouped by domain; each domain is routed
(`_routes.py`: static routes, smarthost, MX) and sent in one SMTP transaction
(`_client.py`), trying the next host while every answer is temporary. Before
that the message is DKIM-signed with its author's domain key, if the
directory has one (`_dkim_sign.py`). Each recipient then is

- delivered (2xx) — a "relayed" DSN if it asked for NOTIFY=SUCCESS and the
  next hop does not offer DSN itself (RFC 3461 section 6.2.2);
- bounced (5xx, or still temporary past the give-up age) — a "failed" DSN to
  the sender unless NOTIFY says otherwise (NEVER, or a list without FAILURE);
- deferred (4xx, connection failures, DNS trouble) — retried later; one
  "delayed" DSN after the first failed attempt when NOTIFY lists DELAY.

Retries are re-published, not nak'ed: the deferred recipients go back into
the stream as a new copy with `attempts + 1` and `not_before` (exponential
backoff, `_retry.py`), and the old copy is acknowledged. A nak with a delay
cannot change the payload, and after a partial success the retry must carry
only the recipients still waiting, and the attempt count must survive
redeliveries. JetStream's nak delay is still what makes the copy wait: a
copy fetched before its `not_before` is nak'ed until then, so waiting
messages cost no worker and are picked up by whichever replica is free.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError

from libs.blobs import BlobStore
from libs.blobs.base import BlobError, BlobNotFound
from libs.bus import Bus
from libs.contracts.smtp import (
    OUTBOUND_CONSUMER,
    OUTBOUND_STREAM,
    OUTBOUND_SUBJECT,
    Notify,
    OutboundMessage,
    OutboundRecipient,
)
from libs.log import get_logger
from services.smtp import _outbound_metrics as metrics
from services.smtp import _queue
from services.smtp._bounces import Notifier
from services.smtp._client import Client, Envelope, RemoteReply, TransactionResult
from services.smtp._dkim_sign import DkimSigner, SigningUnavailable, author_domain
from services.smtp._dsn import Action, RecipientStatus, strip_return_path
from services.smtp._retry import RetryPolicy
from services.smtp._routes import Hop, Router

_log = get_logger()

FETCH_WAIT = 2.0


@dataclass(frozen=True, slots=True)
class RecipientResult:
    recipient: OutboundRecipient
    reply: RemoteReply
    hop: Hop | None
    next_hop_has_dsn: bool = False


class DeliveryWorkers:
    def __init__(
        self,
        *,
        bus: Bus,
        blobs: BlobStore,
        router: Router,
        client: Client,
        retry: RetryPolicy,
        notifier: Notifier,
        workers: int,
        ack_wait: float,
        max_pending: int,
        signer: DkimSigner | None = None,
    ) -> None:
        self.bus = bus
        self.blobs = blobs
        self.router = router
        self.client = client
        self.retry = retry
        self.notifier = notifier
        self.workers = workers
        self.ack_wait = ack_wait
        self.max_pending = max_pending
        self.signer = signer
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Pull and deliver until cancelled; `close()` then lets running deliveries finish."""
        subscription = await self._subscribe()
        slots = asyncio.Semaphore(self.workers)
        _log.info("smtp.outbound.workers_started", workers=self.workers)
        try:
            await self._pull(subscription, slots)
        finally:
            # A pull subscription left open would make the bus's drain wait for it at shutdown.
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        """Bind to the shared durable consumer (creating it once); retried while JetStream is away."""
        config = _queue.consumer_config(ack_wait=self.ack_wait, max_pending=self.max_pending)
        delay = 1.0
        while True:
            try:
                return await self.bus.js.pull_subscribe(
                    OUTBOUND_SUBJECT, durable=OUTBOUND_CONSUMER, stream=OUTBOUND_STREAM, config=config
                )
            except Exception as exc:  # no JetStream yet, stream being re-created, bus reconnecting
                _log.warning("smtp.outbound.subscribe_failed", error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _pull(self, subscription: JetStreamContext.PullSubscription, slots: asyncio.Semaphore) -> None:
        while True:
            await slots.acquire()
            try:
                messages = await subscription.fetch(1, timeout=FETCH_WAIT)
            except nats.errors.TimeoutError:
                slots.release()
                continue
            except asyncio.CancelledError:
                slots.release()
                raise
            except Exception as exc:  # bus reconnecting, consumer being re-created
                slots.release()
                _log.warning("smtp.outbound.fetch_failed", error=repr(exc))
                await asyncio.sleep(1.0)
                continue
            for index, msg in enumerate(messages):
                if index > 0:
                    await slots.acquire()
                task = asyncio.create_task(self._handle(msg))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                task.add_done_callback(lambda _: slots.release())

    async def close(self, grace: float = 10.0) -> None:
        """Give running deliveries `grace` seconds; the rest go back to the queue after ack_wait."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # --- one queued message -----------------------------------------------------------------

    async def _handle(self, msg: Msg) -> None:
        try:
            message = OutboundMessage.model_validate_json(msg.data)
        except ValidationError as exc:
            await self.bus.dead_letter(msg.subject, msg.data, f"invalid OutboundMessage: {exc.error_count()} errors")
            await msg.term()
            return
        now = datetime.now(UTC)
        if message.not_before is not None and message.not_before > now:
            await msg.nak(delay=(message.not_before - now).total_seconds())
            return
        keep_alive = asyncio.create_task(self._keep_alive(msg))
        metrics.IN_FLIGHT.inc()
        try:
            await self._attempt(msg, message)
        except Exception:
            _log.exception("smtp.outbound.failed", message_id=message.message_id)
            with contextlib.suppress(Exception):
                await msg.nak(delay=self.retry.delay(message.attempts + 1))
        finally:
            metrics.IN_FLIGHT.dec()
            keep_alive.cancel()

    async def _keep_alive(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.ack_wait / 3)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _attempt(self, msg: Msg, message: OutboundMessage) -> None:
        log = _log.bind(message_id=message.message_id, attempt=message.attempts + 1)
        try:
            content = strip_return_path(await self.blobs.get(message.blob))
        except BlobNotFound:
            log.error("smtp.outbound.body_missing", blob=message.blob)
            lost = RemoteReply(550, "5.3.0 The queued message body was lost")
            results = [RecipientResult(r, lost, None) for r in message.recipients]
            content = b""
        except BlobError as exc:
            log.warning("smtp.outbound.blob_unavailable", error=repr(exc))
            await msg.nak(delay=self.retry.delay(message.attempts + 1))
            return
        else:
            signed = await self._signed(message, content, log)
            if signed is None:
                unavailable = RemoteReply(451, "4.7.0 DKIM signing key temporarily unavailable")
                results = [RecipientResult(r, unavailable, None) for r in message.recipients]
            else:
                content = signed
                results = await self._deliver(message, content)
        now = datetime.now(UTC)
        attempts = message.attempts + 1
        deferred = [r for r in results if not r.reply.ok and not r.reply.permanent]
        next_at = None
        if deferred:
            next_at = self.retry.next_attempt(attempts=attempts, arrived_at=message.arrived_at, now=now)
        statuses: list[RecipientStatus] = []
        waiting: list[OutboundRecipient] = []
        for result in results:
            status = self._settle(result, now=now, next_at=next_at, message=message, log=log)
            if status is not None:
                statuses.append(status)
            if not result.reply.ok and not result.reply.permanent and next_at is not None:
                waiting.append(result.recipient)
        if statuses:
            statuses.sort(key=lambda s: list(Action).index(s.action))
            await self.notifier.notify(message, statuses, content)
        if waiting:
            delay_sent = message.delay_notified or any(s.action is Action.DELAYED for s in statuses)
            retry = message.model_copy(update={
                "recipients": waiting, "attempts": attempts, "not_before": next_at, "delay_notified": delay_sent,
            })  # fmt: skip
            await self._publish_retry(retry)
        try:
            await msg.ack_sync(timeout=10.0)
        except Exception as exc:
            # Not a reason to nak: JetStream redelivers an unacknowledged message after
            # ack_wait anyway, and a nak after an ack that did land would only add a copy.
            log.warning("smtp.outbound.ack_failed", error=repr(exc))
            return
        if not waiting and message.blob_held:
            try:
                await _queue.hold_blob(self.bus, message.blob, hold=False)
            except _queue.QueueUnavailable as exc:
                log.warning("smtp.outbound.release_failed", error=str(exc))

    async def _signed(self, message: OutboundMessage, content: bytes, log: Any) -> bytes | None:
        """The message with a DKIM-Signature in front when the author's domain has a key
        (RFC 6376; keys from the directory, `_dkim_sign.py`); None when the directory
        cannot say now: the recipients are deferred rather than sent unsigned."""
        if self.signer is None:
            return content
        domain = author_domain(content) or message.reverse_path.rpartition("@")[2]
        if not domain:
            return content
        try:
            header = await self.signer.sign(content, domain=domain)
        except SigningUnavailable as exc:
            log.warning("smtp.outbound.dkim_unavailable", domain=domain, error=str(exc)[:200])
            return None
        return content if header is None else header + content

    async def _publish_retry(self, retry: OutboundMessage, tries: int = 3) -> None:
        """Queue the retry copy; a few quick tries first, since failing here means a nak,
        and the nak'ed message would go again to the recipients it has just reached."""
        for attempt in range(1, tries + 1):
            try:
                await _queue.publish(self.bus, retry)
                return
            except _queue.QueueUnavailable:
                if attempt == tries:
                    raise
                await asyncio.sleep(attempt)

    def _settle(
        self, result: RecipientResult, *, now: datetime, next_at: datetime | None, message: OutboundMessage, log: Any
    ) -> RecipientStatus | None:
        """Count and log one recipient's outcome; the DSN status it needs, if any."""
        recipient, reply = result.recipient, result.reply
        # RFC 3461 section 4.1: without NOTIFY, failures are reported (and delays may be; we do not).
        notify = set(recipient.notify) if recipient.notify is not None else {Notify.FAILURE}
        hop = f"{result.hop.host}:{result.hop.port}" if result.hop else ""
        fields = {"rcpt": recipient.address, "hop": hop, "reply": reply.diagnostic()}
        common = {"address": recipient.address, "diagnostic": reply.diagnostic(), "orcpt": recipient.orcpt,
                  "remote_mta": result.hop.host if result.hop else "", "last_attempt": now}  # fmt: skip
        metrics.ATTEMPTS.labels("ok" if reply.ok else "permanent" if reply.permanent else "temporary").inc()
        if reply.ok:
            metrics.RECIPIENTS.labels("delivered").inc()
            log.info("smtp.outbound.delivered", **fields)
            if Notify.SUCCESS in notify and not result.next_hop_has_dsn:
                return RecipientStatus(action=Action.RELAYED, status="2.0.0", **common)
            return None
        if reply.permanent or next_at is None:
            metrics.RECIPIENTS.labels("bounced").inc()
            expired = not reply.permanent
            log.info("smtp.outbound.bounced", expired=expired, **fields)
            if Notify.FAILURE in notify:
                status = "4.4.7" if expired else reply.enhanced  # RFC 3463: delivery time expired
                return RecipientStatus(action=Action.FAILED, status=status, **common)
            return None
        metrics.RECIPIENTS.labels("deferred").inc()
        log.info("smtp.outbound.deferred", next_attempt=next_at.isoformat(), **fields)
        if Notify.DELAY in notify and not message.delay_notified:
            until = message.arrived_at + timedelta(seconds=self.retry.give_up_after)
            return RecipientStatus(action=Action.DELAYED, status=reply.enhanced, will_retry_until=until, **common)
        return None

    # --- sending ------------------------------------------------------------------------------

    async def _deliver(self, message: OutboundMessage, content: bytes) -> list[RecipientResult]:
        groups: dict[str, list[OutboundRecipient]] = {}
        for recipient in message.recipients:
            groups.setdefault(recipient.address.rpartition("@")[2].lower(), []).append(recipient)
        per_domain = await asyncio.gather(
            *(self._deliver_domain(domain, recipients, message, content) for domain, recipients in groups.items())
        )
        return [result for results in per_domain for result in results]

    async def _deliver_domain(
        self, domain: str, recipients: Sequence[OutboundRecipient], message: OutboundMessage, content: bytes
    ) -> list[RecipientResult]:
        route = await self.router.route(domain)
        if not route.hops:
            reply = RemoteReply(route.code, f"{route.enhanced} {route.text}")
            return [RecipientResult(r, reply, None) for r in recipients]
        envelope = Envelope(
            reverse_path=message.reverse_path, recipients=recipients, size=len(content), eight_bit=message.eight_bit,
            smtputf8=message.smtputf8, ret=message.ret, envid=message.envid,
        )  # fmt: skip
        result: TransactionResult | None = None
        for hop in route.hops:
            result = await self.client.send(hop, envelope, content)
            if any(reply.ok or reply.permanent for reply in result.replies.values()):
                break  # an answer from a server that took part; only all-temporary moves on (RFC 5321 5.1)
        assert result is not None
        missing = RemoteReply(451, "4.4.0 No reply for this recipient")
        return [
            RecipientResult(r, result.replies.get(r.address, missing), result.hop, result.dsn_offered)
            for r in recipients
        ]
