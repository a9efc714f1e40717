"""Closing calls whose end never arrives.

The sip service keeps a running call's state in the memory of the replica
that routed it; if that replica dies mid-call, no `ended` event comes. Such
a row would stay open forever, so every `sweep_interval` the rows started
more than `open_call_timeout` ago and still open are closed: result
`failed`, no SIP code, `ended_by=expired`, `disconnected_by=system`, zero
billable seconds (what was really talked is unknown), answer time kept. The
default (24 h) is far beyond any session timer (RFC 4028) a phone would
keep a real call alive with. A final row never changes, so an `ended` event
arriving after the sweep is ignored.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from libs.log import get_logger
from services.cdr._filing import Filing
from services.cdr._store import CdrStore

_log = get_logger()


async def sweep_once(store: CdrStore, filing: Filing, *, timeout: float) -> int:
    cutoff = datetime.now(UTC) - timedelta(seconds=timeout)
    closed = await filing.finish(lambda: store.expire_open(cutoff))
    for record in closed:
        _log.warning("cdr.call.expired", call_id=record.call_id, leg=record.leg, started_at=str(record.started_at))
    return len(closed)


async def sweep_forever(store: CdrStore, filing: Filing, *, timeout: float, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            while await sweep_once(store, filing, timeout=timeout):
                pass
        except Exception as exc:  # noqa: BLE001 - database away: try again next round
            _log.warning("cdr.sweep.failed", error=repr(exc))
