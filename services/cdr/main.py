"""The cdr service: turns the call events of the stream `CDR` into one call detail record per call leg.

Runs the durable consumer (services/cdr/_consumer.py), the sweeper of calls
whose end never came, the CDR REST API on its API port and /healthz,
/readyz, /metrics on its ops port. It owns the `cdrs` database and the daily
CDR files.
"""

from __future__ import annotations

import asyncio
import contextlib

from libs.bus import Bus
from libs.config import SuiteSettings
from libs.db import create_engine, session_factory
from libs.db.migrations import upgrade_async
from libs.log import configure_logging, get_logger
from libs.ops import build_ops_app, bus_check, database_check
from libs.ops.runner import run
from libs.ops.serving import http_servers, wait_for_stop
from services.cdr._consumer import CdrConsumer
from services.cdr._daily_file import DailyFiles
from services.cdr._filing import Filing
from services.cdr._store import CdrStore
from services.cdr._sweeper import sweep_forever
from services.cdr.api._admins import AdminLogins
from services.cdr.api.app import ApiContext, build_api_app
from services.cdr.config import CdrSettings

SERVICE_NAME = "cdr"


async def serve(stop: asyncio.Event, suite: SuiteSettings, settings: CdrSettings) -> None:
    log = get_logger()
    url = settings.database(suite)
    if settings.migrate_on_start:
        await upgrade_async(SERVICE_NAME, url)
    engine = create_engine(url)
    read_engine = create_engine(url, read_only=True)
    directory = settings.files(suite)
    store = CdrStore(session_factory(engine), owner=suite.node(), files=directory is not None)
    filing = Filing(store, DailyFiles(directory) if directory else None)
    await filing.recover()
    bus = await Bus.open(suite.nats_url, name=SERVICE_NAME, timeout=suite.bus_timeout)
    consumer = CdrConsumer(bus, store, filing, settings)
    await consumer.start()

    logins = AdminLogins(bus, cache_seconds=settings.auth_cache_seconds)
    await logins.forget_on_directory_changes()
    api = build_api_app(ApiContext(session_factory(read_engine), logins))
    ops = build_ops_app(SERVICE_NAME, {"database": database_check(engine), "bus": bus_check(bus)})
    endpoints = ((api, suite.bind_host, settings.api_port), (ops, suite.bind_host, settings.ops_port))
    consuming = asyncio.Event()
    workers = [
        asyncio.create_task(consumer.run(consuming)),
        asyncio.create_task(
            sweep_forever(store, filing, timeout=settings.open_call_timeout, interval=settings.sweep_interval)
        ),  # fmt: skip
    ]
    async with http_servers(*endpoints) as tasks:
        log.info("cdr.started", api_port=settings.api_port, ops_port=settings.ops_port,
                 database=engine.url.get_backend_name(), files=str(directory or ""))  # fmt: skip
        await wait_for_stop(stop, *tasks)
        log.info("cdr.stopping")
        consuming.set()  # the consumer finishes (and acks) the batch in hand
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(workers[0]), timeout=10)
        for worker in workers:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
    await bus.close()
    await engine.dispose()
    await read_engine.dispose()
    log.info("cdr.stopped")


def main() -> None:
    suite = SuiteSettings()
    settings = CdrSettings()
    configure_logging(SERVICE_NAME, level=suite.log_level, fmt=suite.log_format, node=suite.node())
    run(lambda stop: serve(stop, suite, settings))
