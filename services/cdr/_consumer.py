"""The durable pull consumer on the stream `CDR`: events in, rows and file lines out, then acks.

Each round takes up to `batch_size` events and handles them as one unit:

1. parse (an unknown subject or invalid JSON goes to the dead-letter subject
   and is terminated, so it is never redelivered);
2. merge them into their rows in one database transaction (`CdrStore.apply`);
3. append the lines of rows that became final to the daily file and fsync;
4. mark those rows filed;
5. acknowledge every event of the batch.

An ack therefore always follows the commit (and the fsync): a crash at any
step leaves the events unacknowledged, JetStream hands them out again after
`ack_wait`, and merging them a second time changes nothing. `max_ack_pending`
bounds what is handed out and not yet acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from prometheus_client import Counter
from pydantic import ValidationError

from libs.bus import Bus
from libs.contracts import sip as contract
from libs.log import get_logger
from services.cdr._filing import Filing
from services.cdr._store import CdrStore
from services.cdr.config import CdrSettings

_log = get_logger()

EVENTS = Counter("parley_cdr_events_total", "Call events taken from the stream", ["kind"])
FINISHED = Counter("parley_cdr_records_final_total", "Call detail records that became final", ["result"])

MODELS: dict[str, type[contract.CallEvent]] = {
    contract.CALL_ATTEMPTED: contract.CallAttempted,
    contract.CALL_ANSWERED: contract.CallAnswered,
    contract.CALL_ENDED: contract.CallEnded,
}


async def ensure_cdr_stream(js: JetStreamContext) -> None:
    """Create the stream if the sip service has not yet; never change its configuration (sip owns it)."""
    try:
        await js.stream_info(contract.CDR_STREAM)
    except NotFoundError:
        config = StreamConfig(name=contract.CDR_STREAM, subjects=[contract.CDR_SUBJECTS], storage=StorageType.FILE)
        try:
            await js.add_stream(config)
        except Exception:  # noqa: BLE001 - a sip replica created it at the same moment
            await js.stream_info(contract.CDR_STREAM)


class CdrConsumer:
    def __init__(self, bus: Bus, store: CdrStore, filing: Filing, settings: CdrSettings) -> None:
        self._bus = bus
        self._store = store
        self._filing = filing
        self._settings = settings
        self._subscription: Any = None

    async def start(self) -> None:
        js = self._bus.js
        await ensure_cdr_stream(js)
        config = ConsumerConfig(
            durable_name=self._settings.consumer,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._settings.ack_wait,
            max_ack_pending=self._settings.max_ack_pending,
            filter_subject=contract.CDR_SUBJECTS,
        )
        await js.add_consumer(contract.CDR_STREAM, config)  # creates it, or updates the limits of ours
        self._subscription = await js.pull_subscribe_bind(durable=self._settings.consumer, stream=contract.CDR_STREAM)

    async def run(self, stop: asyncio.Event) -> None:
        """Pull and handle batches until `stop`; a failing batch is retried (redelivered) after a pause."""
        pause = 0.5
        while not stop.is_set():
            try:
                messages = await self._subscription.fetch(self._settings.batch_size, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:  # noqa: BLE001 - the bus reconnects; keep pulling
                _log.warning("cdr.fetch.failed", error=repr(exc))
                await asyncio.sleep(pause)
                continue
            try:
                await self.handle(messages)
                pause = 0.5
            except Exception as exc:  # noqa: BLE001 - database down: nothing acked, all comes back
                _log.error("cdr.batch.failed", error=repr(exc), events=len(messages))
                for msg in messages:
                    await _quietly(msg.nak(delay=pause))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    async def handle(self, messages: Sequence[Msg]) -> None:
        events: list[contract.CallEvent] = []
        for msg in messages:
            event = await self._parse(msg)
            if event is not None:
                events.append(event)
        finished = await self._filing.finish(lambda: self._store.apply(events))
        for record in finished:
            FINISHED.labels(record.result or "").inc()
        for msg in messages:
            await msg.ack()

    async def _parse(self, msg: Msg) -> contract.CallEvent | None:
        model = MODELS.get(msg.subject)
        reason = f"no call event is published on {msg.subject}"
        if model is not None:
            try:
                event = model.model_validate_json(msg.data)
            except ValidationError as exc:
                reason = f"invalid {model.__name__}: {exc.error_count()} errors"
            else:
                EVENTS.labels(msg.subject.rsplit(".", 1)[-1]).inc()
                return event
        await self._bus.dead_letter(msg.subject, msg.data, reason)
        await msg.term()  # acknowledged as unprocessable: never redelivered
        return None


async def _quietly(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:  # noqa: BLE001 - the bus is gone too; ack_wait redelivers
        pass
