"""The directory service: owner of domains, accounts, aliases, forwarders, groups
and credentials. Serves `directory.rpc.*` on the bus, the admin REST API on
its admin port, and /healthz, /readyz, /metrics on its ops port.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

from libs.bus import Bus
from libs.config import SuiteSettings
from libs.contracts.directory import SERVICE_NAME
from libs.db import create_engine, session_factory
from libs.db.migrations import upgrade_async
from libs.db.reader import Reader
from libs.db.unit_of_work import UnitOfWork
from libs.log import configure_logging, get_logger
from libs.ops import build_ops_app, bus_check, database_check
from libs.ops.runner import run
from libs.ops.serving import http_servers, wait_for_stop
from services.directory._auth_cache import AuthCache
from services.directory._auth_cache import follow_changes as follow_auth_changes
from services.directory._authenticator import Authenticator
from services.directory._bootstrap import ensure_first_admin, server_secret
from services.directory._cache import DirectoryCache
from services.directory._changes import follow_changes, invalidating
from services.directory._dkim import DkimKeys
from services.directory._queries import open_queries
from services.directory._reads import DirectoryReads
from services.directory._rpc import DirectoryRpc
from services.directory._throttle import FailureWindow
from services.directory.admin.app import build_admin_app
from services.directory.admin.context import AdminContext
from services.directory.admin.principal import AdminAuthenticator
from services.directory.admin.rpc import admin_auth_endpoints
from services.directory.config import DirectorySettings


async def serve(stop: asyncio.Event, suite: SuiteSettings, settings: DirectorySettings) -> None:
    log = get_logger()
    url = settings.database(suite)
    if settings.migrate_on_start:
        await upgrade_async(SERVICE_NAME, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    secret = await server_secret(sessions)
    admin_url = f"http://{_client_host(suite.bind_host)}:{settings.admin_port}"
    await ensure_first_admin(
        sessions,
        user=settings.admin_user,
        password=settings.admin_password.get_secret_value() if settings.admin_password else None,
        credentials_file=suite.resolved_data_dir() / "secrets" / "admin.json",
        url=admin_url,
    )
    bus = await Bus.open(suite.nats_url, name=SERVICE_NAME, timeout=suite.bus_timeout)
    reader = Reader(url)
    queries = await open_queries(url)
    reads = DirectoryReads(queries, DirectoryCache(ttl=settings.cache_seconds, max_entries=settings.cache_entries))
    await follow_changes(bus, reads)
    auth_cache = AuthCache(settings.auth_cache_seconds)
    await follow_auth_changes(bus, auth_cache)
    authenticator = Authenticator(
        reads,
        server_secret=secret,
        account_failures=FailureWindow(limit=settings.auth_max_failures_account, window=settings.auth_window),
        client_failures=FailureWindow(limit=settings.auth_max_failures_client, window=settings.auth_window),
        scram_iterations=settings.scram_iterations,
        auth_cache=auth_cache,
    )
    rpc = DirectoryRpc(reads, authenticator, max_depth=settings.max_resolve_depth)
    admin_auth = AdminAuthenticator(
        sessions, FailureWindow(limit=settings.auth_max_failures_client, window=settings.auth_window)
    )
    await bus.serve(
        service=SERVICE_NAME,
        version=version("parley"),
        endpoints=rpc.endpoints() + DkimKeys(reads, reader).endpoints() + admin_auth_endpoints(admin_auth),
        description="Identity: domains, accounts, routing of addresses, credentials",
    )
    uow = UnitOfWork(sessions, invalidating(bus.publish, reads))
    admin_app = build_admin_app(AdminContext(uow, admin_auth, settings, reads))

    ops_app = build_ops_app(SERVICE_NAME, {"database": database_check(engine), "bus": bus_check(bus)})
    endpoints = ((admin_app, suite.bind_host, settings.admin_port), (ops_app, suite.bind_host, settings.ops_port))
    async with http_servers(*endpoints) as tasks:
        log.info(
            "directory.started", admin_url=admin_url, ops_port=settings.ops_port, database=engine.url.get_backend_name()
        )
        await wait_for_stop(stop, *tasks)
        log.info("directory.stopping")
    await bus.close()
    await queries.close()
    await reader.close()
    await engine.dispose()
    log.info("directory.stopped")


def _client_host(bind_host: str) -> str:
    """Where a local client reaches a server bound to `bind_host`."""
    if bind_host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if bind_host == "::":
        return "[::1]"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


def main() -> None:
    suite = SuiteSettings()
    settings = DirectorySettings()
    configure_logging(SERVICE_NAME, level=suite.log_level, fmt=suite.log_format, node=suite.node())
    run(lambda stop: serve(stop, suite, settings))
