"""The SMTP service: MX, submission (STARTTLS and implicit TLS) and LMTP listeners.

Recipients are resolved by the directory, content goes to the blob store and
storage files it into INBOXes; the reply after DATA comes only once storage
has committed. Serves /healthz, /readyz and /metrics on its ops port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from libs.blobs import BlobSettings, blob_store_from_settings
from libs.bus import Bus
from libs.config import SuiteSettings
from libs.log import configure_logging, get_logger
from libs.ops import build_ops_app, bus_check, http_server
from libs.ops.runner import run
from libs.tls import ensure_self_signed
from services.smtp._auth import MECHANISMS
from services.smtp._mailauth import MailAuth
from services.smtp.config import SmtpSettings
from services.smtp.config_mailauth import MailAuthSettings
from services.smtp.policy import BusPolicy
from services.smtp.protocol import Limits, SessionConfig
from services.smtp.transport import Listener, SmtpServer, Timeouts

SERVICE_NAME = "smtp"

_log = get_logger()


def tls_context(settings: SmtpSettings, suite: SuiteSettings) -> ssl.SSLContext:
    cert, key = settings.cert_paths(suite)
    if ensure_self_signed(cert, key):
        _log.info("smtp.tls.self_signed_created", cert=str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def build_listeners(settings: SmtpSettings, context: ssl.SSLContext) -> list[Listener]:
    """The enabled listeners: MX takes mail for our users, submission needs AUTH first."""
    hostname = settings.server_name()
    limits = Limits(max_message_size=settings.max_message_bytes, max_recipients=settings.max_recipients)
    common = {"hostname": hostname, "limits": limits}
    candidates = [
        Listener("mx", settings.mx_port, SessionConfig(**common, tls_available=True), context),
        Listener(
            "submission",
            settings.submission_port,
            SessionConfig(**common, tls_available=True, auth_mechanisms=MECHANISMS, auth_required=True),
            context,
        ),
        Listener(
            "submissions",
            settings.submissions_port,
            SessionConfig(**common, tls_active=True, auth_mechanisms=MECHANISMS, auth_required=True),
            context,
            implicit_tls=True,
        ),
        Listener("lmtp", settings.lmtp_port, SessionConfig(**common, lmtp=True)),
    ]
    return [listener for listener in candidates if listener.port > 0]


async def serve(
    stop: asyncio.Event,
    suite: SuiteSettings,
    settings: SmtpSettings,
    blob_settings: BlobSettings,
    mailauth_settings: MailAuthSettings | None = None,
) -> None:
    context = tls_context(settings, suite)
    blobs = blob_store_from_settings(blob_settings, suite)
    bus = await Bus.open(suite.nats_url, name=SERVICE_NAME, timeout=suite.bus_timeout)
    timeouts = Timeouts(
        command=settings.command_timeout,
        data_block=settings.data_block_timeout,
        data_end=settings.data_end_timeout,
        write=settings.write_timeout,
    )
    mailauth = MailAuth(mailauth_settings or MailAuthSettings(), hostname=settings.server_name())
    server = SmtpServer(
        build_listeners(settings, context),
        host=suite.bind_host,
        policy=BusPolicy(bus, hostname=settings.server_name()),
        blobs=blobs,
        timeouts=timeouts,
        max_connections_per_client=settings.max_connections_per_client,
        mailauth=mailauth,
    )
    await server.start()

    async def listening() -> bool:
        return server.serving

    ops = http_server(
        build_ops_app(SERVICE_NAME, {"bus": bus_check(bus), "listeners": listening}),
        host=suite.bind_host,
        port=settings.ops_port,
    )
    ops_task = asyncio.create_task(ops.serve())
    _log.info("smtp.started", listeners={x.name: x.port for x in server.listeners}, ops_port=settings.ops_port)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([stopper, ops_task], return_when=asyncio.FIRST_COMPLETED)
    _log.info("smtp.stopping")
    await server.close()
    ops.should_exit = True
    with contextlib.suppress(Exception):
        await ops_task
    stopper.cancel()
    await bus.close()
    await blobs.close()
    mailauth.close()
    _log.info("smtp.stopped")


def main() -> None:
    suite = SuiteSettings()
    settings = SmtpSettings()
    blob_settings = BlobSettings()
    mailauth_settings = MailAuthSettings()
    configure_logging(SERVICE_NAME, level=suite.log_level, fmt=suite.log_format, node=suite.node())
    run(lambda stop: serve(stop, suite, settings, blob_settings, mailauth_settings))
