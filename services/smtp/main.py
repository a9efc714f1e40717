"""The SMTP service: MX, submission (STARTTLS and implicit TLS) and LMTP listeners,
and the delivery workers of the outbound queue.

Recipients are resolved by the directory, content goes to the blob store and
storage files it into INBOXes; remote recipients go into the `MAIL_OUTBOUND`
stream. The reply after DATA comes only once storage has committed and
JetStream has acknowledged. Serves /healthz, /readyz and /metrics on its ops port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence

from libs.blobs import BlobSettings, BlobStore, blob_store_from_settings
from libs.bus import Bus
from libs.config import SuiteSettings
from libs.log import configure_logging, get_logger
from libs.ops import build_ops_app, bus_check
from libs.ops.runner import run
from libs.ops.serving import http_servers, wait_for_stop
from libs.tls import server_context
from services.smtp import _queue
from services.smtp._auth import MECHANISMS
from services.smtp._bounces import Notifier
from services.smtp._client import Client
from services.smtp._dkim_sign import DkimSigner, bus_key_source
from services.smtp._dns import async_resolver
from services.smtp._mailauth import MailAuth
from services.smtp._outbound import DeliveryWorkers
from services.smtp._outbound_config import OutboundSettings
from services.smtp._retry import RetryPolicy
from services.smtp._routes import Router, dns_mx_lookup
from services.smtp.config import SmtpSettings
from services.smtp.config_mailauth import MailAuthSettings
from services.smtp.policy import BusPolicy
from services.smtp.protocol import Limits, SessionConfig
from services.smtp.transport import Listener, SmtpServer, Timeouts

SERVICE_NAME = "smtp"

_log = get_logger()


def tls_context(settings: SmtpSettings, suite: SuiteSettings) -> ssl.SSLContext:
    return server_context(*settings.cert_paths(suite), service=SERVICE_NAME)


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


def build_workers(
    bus: Bus,
    blobs: BlobStore,
    policy: BusPolicy,
    settings: SmtpSettings,
    outbound: OutboundSettings,
    mailauth_settings: MailAuthSettings,
) -> DeliveryWorkers:
    """The delivery workers of this process: routed and timed by the outbound settings,
    resolving MX records and signing with DKIM as the sender checks' settings say."""
    hostname = settings.server_name()

    async def deliver_local(digest: str, accounts: Sequence[str]) -> bool:
        outcome = await policy.deliver(digest, accounts)
        return not outcome.unavailable and all(a in outcome.stored for a in accounts)

    return DeliveryWorkers(
        bus=bus,
        blobs=blobs,
        router=Router(
            routes=outbound.routes,
            smarthost=outbound.smarthost,
            default_port=outbound.default_port,
            mx_lookup=dns_mx_lookup(async_resolver(mailauth_settings)),
        ),
        client=Client(
            local_hostname=hostname, connect_timeout=outbound.connect_timeout, command_timeout=outbound.command_timeout
        ),
        retry=RetryPolicy(
            initial=outbound.retry_initial, maximum=outbound.retry_max, give_up_after=outbound.give_up_after
        ),
        notifier=Notifier(
            bus=bus,
            blobs=blobs,
            hostname=hostname,
            full_max_bytes=outbound.bounce_full_max_bytes,
            deliver_local=deliver_local,
        ),
        workers=outbound.workers,
        ack_wait=outbound.ack_wait,
        max_pending=outbound.max_pending,
        signer=DkimSigner(bus_key_source(bus), cache_seconds=mailauth_settings.dkim_key_cache_seconds),
    )


async def serve(
    stop: asyncio.Event,
    suite: SuiteSettings,
    settings: SmtpSettings,
    blob_settings: BlobSettings,
    mailauth_settings: MailAuthSettings | None = None,
    outbound: OutboundSettings | None = None,
) -> None:
    outbound = outbound or OutboundSettings()
    context = tls_context(settings, suite)
    blobs = blob_store_from_settings(blob_settings, suite)
    bus = await Bus.open(suite.nats_url, name=SERVICE_NAME, timeout=suite.bus_timeout)
    declaring = asyncio.create_task(_queue.declare_until_done(bus, replicas=outbound.stream_replicas))
    await asyncio.wait({declaring}, timeout=10)  # usually done at once; else it goes on in the background
    policy = BusPolicy(bus, hostname=settings.server_name())
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
        policy=policy,
        blobs=blobs,
        timeouts=timeouts,
        max_connections_per_client=settings.max_connections_per_client,
        mailauth=mailauth,
    )
    await server.start()
    workers = (
        build_workers(bus, blobs, policy, settings, outbound, mailauth_settings or MailAuthSettings())
        if outbound.workers > 0
        else None
    )
    workers_task = asyncio.create_task(workers.run()) if workers is not None else None

    async def listening() -> bool:
        return server.serving

    ops_app = build_ops_app(SERVICE_NAME, {"bus": bus_check(bus), "listeners": listening})
    async with http_servers((ops_app, suite.bind_host, settings.ops_port)) as endpoints:
        _log.info("smtp.started", listeners={x.name: x.port for x in server.listeners}, ops_port=settings.ops_port)
        await wait_for_stop(stop, *endpoints)
        _log.info("smtp.stopping")
        await server.close()
        declaring.cancel()
        if workers is not None and workers_task is not None:
            workers_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await workers_task
            await workers.close()
    await bus.close()
    await blobs.close()
    mailauth.close()
    _log.info("smtp.stopped")


def main() -> None:
    suite = SuiteSettings()
    settings = SmtpSettings()
    blob_settings = BlobSettings()
    mailauth_settings = MailAuthSettings()
    outbound = OutboundSettings()
    configure_logging(SERVICE_NAME, level=suite.log_level, fmt=suite.log_format, node=suite.node())
    run(lambda stop: serve(stop, suite, settings, blob_settings, mailauth_settings, outbound))
