"""The storage service: owner of every account's mailboxes and messages.
Serves `storage.rpc.*` on the bus and /healthz, /readyz, /metrics on its ops port."""

from __future__ import annotations

import asyncio
import contextlib
from importlib.metadata import version

from libs.blobs import BlobSettings, blob_store_from_settings
from libs.bus import Bus
from libs.config import SuiteSettings
from libs.contracts import directory
from libs.contracts.errors import NotFound
from libs.contracts.storage import SERVICE_NAME
from libs.db import create_engine, is_sqlite, session_factory
from libs.db.migrations import upgrade_async
from libs.db.unit_of_work import UnitOfWork
from libs.log import configure_logging, get_logger
from libs.ops import build_ops_app, bus_check, database_check
from libs.ops.runner import run
from libs.ops.serving import http_servers, wait_for_stop
from services.storage._batching import DeliveryQueue
from services.storage._context import StorageContext
from services.storage._gc import collect
from services.storage._provision import subscribe_account_events
from services.storage._quota import Limits, QuotaLimits
from services.storage._rpc import endpoints
from services.storage._writes import GroupCommitUnitOfWork
from services.storage.config import StorageSettings

_log = get_logger()


def directory_limits(bus: Bus):  # type: ignore[no-untyped-def]
    """Quota limits (and existence) of an account, asked of the directory."""

    async def lookup(account: str) -> Limits:
        try:
            info = await bus.request(
                directory.RPC_ACCOUNT_GET, directory.AccountGetRequest(address=account), directory.AccountInfo
            )
        except NotFound:
            raise NotFound(f"no account {account}") from None
        return Limits(bytes=info.quota_bytes, messages=info.quota_messages)

    return lookup


async def _collect_garbage(ctx: StorageContext, interval: float, grace: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await collect(ctx, grace=grace)
        except Exception as exc:
            _log.warning("storage.gc.failed", error=repr(exc))


async def serve(
    stop: asyncio.Event, suite: SuiteSettings, settings: StorageSettings, blob_settings: BlobSettings
) -> None:
    url = settings.database(suite)
    if settings.migrate_on_start:
        await upgrade_async(SERVICE_NAME, url)
    engine = create_engine(url)
    read_engine = create_engine(url, read_only=True)
    blobs = blob_store_from_settings(blob_settings, suite)
    bus = await Bus.open(suite.nats_url, name=SERVICE_NAME, timeout=suite.bus_timeout)
    ctx = StorageContext(
        uow=(GroupCommitUnitOfWork if is_sqlite(url) else UnitOfWork)(session_factory(engine), bus.publish),
        read=session_factory(read_engine),
        blobs=blobs,
        quotas=QuotaLimits(directory_limits(bus), ttl=settings.quota_cache_seconds),
        settings=settings,
    )
    deliveries = DeliveryQueue(ctx)
    ctx.deliveries = deliveries
    deliveries.start()
    await bus.serve(service=SERVICE_NAME, version=version("parley"), endpoints=endpoints(ctx),
                    description="Mailboxes and messages of every account")  # fmt: skip
    await subscribe_account_events(bus, ctx)

    ops_app = build_ops_app(SERVICE_NAME, {"database": database_check(engine), "bus": bus_check(bus)})
    async with http_servers((ops_app, suite.bind_host, settings.ops_port)) as http_tasks:
        collector = (
            asyncio.create_task(_collect_garbage(ctx, settings.gc_interval, settings.gc_grace))
            if settings.gc_interval > 0
            else None
        )
        _log.info("storage.started", ops_port=settings.ops_port, database=engine.url.get_backend_name(),
                  blobs=blob_settings.backend)  # fmt: skip
        await wait_for_stop(stop, *http_tasks)
        _log.info("storage.stopping")
        if collector is not None:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await collector
    await bus.close()  # drains in-flight requests first
    await deliveries.stop()
    await blobs.close()
    await engine.dispose()
    await read_engine.dispose()
    _log.info("storage.stopped")


def main() -> None:
    suite = SuiteSettings()
    settings = StorageSettings()
    blob_settings = BlobSettings()
    configure_logging(SERVICE_NAME, level=suite.log_level, fmt=suite.log_format, node=suite.node())
    run(lambda stop: serve(stop, suite, settings, blob_settings))
