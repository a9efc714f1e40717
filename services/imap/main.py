"""The IMAP service: IMAP with STARTTLS and IMAP over implicit TLS.

Logins are checked by the directory, mailboxes and messages live in storage,
message bodies in the blob store. Serves /healthz, /readyz and /metrics on
its ops port.
"""

from __future__ import annotations

import asyncio
import ssl

from libs.blobs import BlobSettings, blob_store_from_settings
from libs.bus import Bus
from libs.config import SuiteSettings
from libs.log import configure_logging, get_logger
from libs.net import Listener
from libs.ops import build_ops_app, bus_check
from libs.ops.runner import run
from libs.ops.serving import http_servers, wait_for_stop
from libs.tls import server_context
from services.imap._auth import MECHANISMS
from services.imap.config import ImapSettings
from services.imap.protocol import Limits, SessionConfig
from services.imap.transport import ImapServer, Timeouts

SERVICE_NAME = "imap"

#: Advertised by the core but not served here (docs/imap.md, "What is left").
NOT_OFFERED = frozenset({"WITHIN"})

_log = get_logger()


def tls_context(settings: ImapSettings, suite: SuiteSettings) -> ssl.SSLContext:
    return server_context(*settings.cert_paths(suite), service=SERVICE_NAME)


def build_listeners(settings: ImapSettings, context: ssl.SSLContext) -> list[Listener[SessionConfig]]:
    limits = Limits(append_limit=settings.append_limit, max_line=settings.max_line,
                    max_command=max(Limits().max_command, settings.max_line))  # fmt: skip
    common = {
        "hostname": settings.server_name(),
        "limits": limits,
        "auth_mechanisms": MECHANISMS,
        "auth_requires_tls": settings.auth_requires_tls,
        "disabled_capabilities": NOT_OFFERED,
    }
    candidates = [
        Listener("imap", settings.port, SessionConfig(**common, tls_available=True), context),  # type: ignore[arg-type]
        Listener("imaps", settings.tls_port, SessionConfig(**common, tls_active=True), context, implicit_tls=True),  # type: ignore[arg-type]
    ]
    return [listener for listener in candidates if listener.port > 0]


async def serve(stop: asyncio.Event, suite: SuiteSettings, settings: ImapSettings, blob_settings: BlobSettings) -> None:
    context = tls_context(settings, suite)
    blobs = blob_store_from_settings(blob_settings, suite)
    bus = await Bus.open(suite.nats_url, name=SERVICE_NAME, timeout=suite.bus_timeout)
    timeouts = Timeouts(preauth=settings.preauth_timeout, autologout=settings.autologout, write=settings.write_timeout)
    server = ImapServer(
        build_listeners(settings, context), host=suite.bind_host, bus=bus, blobs=blobs, timeouts=timeouts,
        max_connections_per_client=settings.max_connections_per_client,
        max_connections_per_account=settings.max_connections_per_account,
    )  # fmt: skip
    await server.start()

    async def listening() -> bool:
        return server.serving

    ops_app = build_ops_app(SERVICE_NAME, {"bus": bus_check(bus), "listeners": listening})
    async with http_servers((ops_app, suite.bind_host, settings.ops_port)) as endpoints:
        _log.info("imap.started", listeners={x.name: x.port for x in server.listeners}, ops_port=settings.ops_port)
        await wait_for_stop(stop, *endpoints)
        _log.info("imap.stopping")
        await server.close()
    await bus.close()
    await blobs.close()
    _log.info("imap.stopped")


def main() -> None:
    suite = SuiteSettings()
    settings = ImapSettings()
    blob_settings = BlobSettings()
    configure_logging(SERVICE_NAME, level=suite.log_level, fmt=suite.log_format, node=suite.node())
    run(lambda stop: serve(stop, suite, settings, blob_settings))
