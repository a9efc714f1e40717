"""The outbound queue: the JetStream stream `MAIL_OUTBOUND` and how messages get into it.

A message is queued with a JetStream publish, which returns only once the
server has stored it (every nats-server Parley runs syncs each write, see
ARCHITECTURE.md), so "queued" is as durable as "stored in a mailbox" and
the SMTP `250` may follow. The stream is a work queue: a message leaves it
when a delivery worker acknowledges it, and every smtp replica pulls from
the one durable consumer, so each message is worked on by one replica at a
time.

Before a message is queued its body gets a storage blob hold
(`storage.rpc.blob_hold`), released by the worker once every recipient is
delivered or bounced, so garbage collection never takes a queued body.

Retries are re-published copies: the remaining recipients, the attempt
count and a `not_before` time (see `_outbound.py` for why).
"""

from __future__ import annotations

import asyncio

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy

from libs.bus import Bus, ensure_stream
from libs.contracts import storage
from libs.contracts.errors import ServiceError
from libs.contracts.smtp import OUTBOUND_CONSUMER, OUTBOUND_STREAM, OUTBOUND_SUBJECT, OutboundMessage
from libs.log import get_logger

_log = get_logger()

DUPLICATE_WINDOW = 120.0  # seconds JetStream remembers a Nats-Msg-Id, so a retried publish is stored once


class QueueUnavailable(Exception):
    """JetStream (or storage, for the blob hold) did not take the message; answer 451."""


async def declare(bus: Bus, *, replicas: int = 1) -> None:
    """Create or update the stream; every replica does this at start-up (idempotent)."""
    await ensure_stream(
        bus.js,
        name=OUTBOUND_STREAM,
        subjects=[OUTBOUND_SUBJECT],
        retention=RetentionPolicy.WORK_QUEUE,
        duplicate_window=DUPLICATE_WINDOW,
        num_replicas=replicas,
    )


async def declare_until_done(bus: Bus, *, replicas: int = 1) -> None:
    """`declare()`, retried while JetStream is not there yet (a cluster still forming):
    local delivery works meanwhile, and remote recipients get 451 until the stream exists."""
    delay = 1.0
    while True:
        try:
            await declare(bus, replicas=replicas)
            return
        except Exception as exc:
            _log.warning("smtp.outbound.declare_failed", error=repr(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def consumer_config(*, ack_wait: float, max_pending: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=OUTBOUND_CONSUMER,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,  # a message is never dropped by JetStream; the worker decides when to give up
        max_ack_pending=max_pending,
        filter_subject=OUTBOUND_SUBJECT,
    )


async def publish(bus: Bus, message: OutboundMessage, *, timeout: float = 10.0) -> None:
    """Store `message` in the stream; return only after JetStream acknowledged it."""
    headers = {"Nats-Msg-Id": f"{message.message_id}:{message.attempts}"}
    try:
        await bus.js.publish(
            OUTBOUND_SUBJECT, message.model_dump_json().encode(), timeout=timeout, stream=OUTBOUND_STREAM,
            headers=headers,
        )  # fmt: skip
    except Exception as exc:  # nats raises several unrelated classes (timeout, no responders, API error)
        raise QueueUnavailable(f"{type(exc).__name__}: {exc}") from None


async def hold_blob(bus: Bus, digest: str, *, hold: bool = True) -> None:
    try:
        await bus.request(storage.RPC_BLOB_HOLD, storage.BlobHoldRequest(blob=digest, hold=hold), storage.Done)
    except ServiceError as exc:
        raise QueueUnavailable(f"blob hold: {exc.message}") from None


async def enqueue(bus: Bus, message: OutboundMessage) -> None:
    """Hold the body, then queue the message. A failed publish releases the hold again (if it can)."""
    await hold_blob(bus, message.blob)
    held = message.model_copy(update={"blob_held": True})
    try:
        await publish(bus, held)
    except QueueUnavailable:
        try:
            await hold_blob(bus, message.blob, hold=False)
        except QueueUnavailable:
            pass  # a leaked hold keeps one body: the safe direction
        raise
