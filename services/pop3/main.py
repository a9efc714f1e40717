"""The POP3 service: POP3 with STLS and POP3 over implicit TLS, over the INBOX in storage.

Stateless: credentials are checked by the directory, the maildrop lock is a
JetStream KV entry and messages come from storage and the blob store, so any
replica serves any account. Serves /healthz, /readyz and /metrics on its ops port.
"""

from __future__ import annotations

import asyncio
import ssl

from libs.auth.directory_client import DirectoryAuth
from libs.blobs import BlobSettings, blob_store_from_settings
from libs.bus import Bus
from libs.config import SuiteSettings
from libs.log import configure_logging, get_logger
from libs.ops import build_ops_app, bus_check
from libs.ops.runner import run
from libs.ops.serving import http_servers, wait_for_stop
from libs.tls import server_context
from services.pop3._lock import MaildropLocks
from services.pop3._mailstore import MailStore
from services.pop3._sasl import MECHANISMS
from services.pop3.config import Pop3Settings
from services.pop3.policy import Backends
from services.pop3.protocol import Limits, SessionConfig
from services.pop3.transport import Listener, Pop3Server, Timeouts

SERVICE_NAME = "pop3"

_log = get_logger()


def tls_context(settings: Pop3Settings, suite: SuiteSettings) -> ssl.SSLContext:
    return server_context(*settings.cert_paths(suite), service=SERVICE_NAME)


def build_listeners(settings: Pop3Settings, context: ssl.SSLContext) -> list[Listener]:
    limits = Limits(max_errors=settings.max_errors, max_auth_failures=settings.max_auth_failures)
    common = {
        "hostname": settings.server_name(),
        "limits": limits,
        "sasl_mechanisms": MECHANISMS,
        "plaintext_auth_allowed": settings.allow_plaintext_auth,
    }
    candidates = [
        Listener("pop3", settings.pop3_port, SessionConfig(**common, tls_available=True), context),
        Listener("pop3s", settings.pop3s_port, SessionConfig(**common, tls_active=True), context, implicit_tls=True),
    ]
    return [listener for listener in candidates if listener.port > 0]


async def serve(stop: asyncio.Event, suite: SuiteSettings, settings: Pop3Settings, blob_settings: BlobSettings) -> None:
    context = tls_context(settings, suite)
    blobs = blob_store_from_settings(blob_settings, suite)
    bus = await Bus.open(suite.nats_url, name=SERVICE_NAME, timeout=suite.bus_timeout)
    locks = MaildropLocks(bus, ttl=settings.lock_ttl, node=suite.node())
    await locks.bucket()  # fail at start, not at the first login, if JetStream is off
    backends = Backends(
        directory=DirectoryAuth(bus, protocol=SERVICE_NAME), store=MailStore(bus), blobs=blobs, locks=locks
    )
    timeouts = Timeouts(
        preauth=settings.preauth_timeout,
        login=settings.login_timeout,
        idle=settings.idle_timeout,
        write=settings.write_timeout,
    )
    server = Pop3Server(
        build_listeners(settings, context),
        host=suite.bind_host,
        backends=backends,
        timeouts=timeouts,
        max_connections_per_client=settings.max_connections_per_client,
    )
    await server.start()

    async def listening() -> bool:
        return server.serving

    ops_app = build_ops_app(SERVICE_NAME, {"bus": bus_check(bus), "listeners": listening})
    async with http_servers((ops_app, suite.bind_host, settings.ops_port)) as endpoints:
        _log.info("pop3.started", listeners={x.name: x.port for x in server.listeners}, ops_port=settings.ops_port)
        await wait_for_stop(stop, *endpoints)
        _log.info("pop3.stopping")
        await server.close()
    await bus.close()
    await blobs.close()
    _log.info("pop3.stopped")


def main() -> None:
    suite = SuiteSettings()
    settings = Pop3Settings()
    blob_settings = BlobSettings()
    configure_logging(SERVICE_NAME, level=suite.log_level, fmt=suite.log_format, node=suite.node())
    run(lambda stop: serve(stop, suite, settings, blob_settings))
