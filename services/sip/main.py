"""The SIP service: registrar, stateful forking proxy and instant messages over UDP, TCP and TLS.

Stateless between requests: bindings live in the JetStream KV bucket
`sip_locations`, stored IMs in a JetStream stream and credentials in the
directory, so any replica serves any user (the SIP farm). Serves /healthz,
/readyz and /metrics on its ops port.
"""

from __future__ import annotations

import asyncio
import gc
import ssl

from libs.bus import Bus
from libs.config import SuiteSettings
from libs.log import configure_logging, get_logger
from libs.ops import build_ops_app, bus_check
from libs.ops.runner import run
from libs.ops.serving import http_servers, wait_for_stop
from libs.tls import ensure_self_signed
from services.sip._b2bua import B2bua, B2buaConfig
from services.sip._core import CoreConfig, SipCore
from services.sip._forwarding import SettingsCache
from services.sip._media_client import BusMediaClient
from services.sip._nonces import NonceBook
from services.sip._presence import PresencePolicy
from services.sip._presence_bus import PresenceRuntime
from services.sip._registrar import RegistrarPolicy
from services.sip._stores import CallRecords, LocationStore, PendingMessages
from services.sip.config import SipSettings
from services.sip.policy import BusDirectory, DigestAuth
from services.sip.protocol import Limits
from services.sip.transport import SipTransport

SERVICE_NAME = "sip"

_log = get_logger()


def tls_context(settings: SipSettings, suite: SuiteSettings) -> ssl.SSLContext | None:
    if not settings.tls_port:
        return None
    cert, key = settings.cert_paths(suite)
    if ensure_self_signed(cert, key):
        _log.info("sip.tls.self_signed_created", cert=str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def listen_hosts(bind_host: str, ipv6: bool) -> list[str]:
    """The bind host, and its IPv6 counterpart when asked for (loopback -> ::1, any -> ::)."""
    hosts = [bind_host]
    if ipv6 and ":" not in bind_host:
        counterpart = {"127.0.0.1": "::1", "0.0.0.0": "::"}.get(bind_host)
        if counterpart:
            hosts.append(counterpart)
    return hosts


async def serve(stop: asyncio.Event, suite: SuiteSettings, settings: SipSettings) -> None:
    bus = await Bus.open(suite.nats_url, name=SERVICE_NAME, timeout=suite.bus_timeout)
    locations = LocationStore(bus, ttl=settings.max_expires + 300)
    pending = PendingMessages(bus)
    cdr = CallRecords(bus)
    await locations.bucket()  # fail at start, not at the first REGISTER, if JetStream is off
    await pending.ensure()
    await cdr.ensure()
    hosts = listen_hosts(suite.bind_host, settings.ipv6)
    advertised = settings.host_name(suite)
    ports = {"UDP": settings.udp_port, "TCP": settings.tcp_port, "TLS": settings.tls_port, "WS": settings.ws_port}
    local_addresses = {h.lower() for h in hosts} | {advertised.lower(), "localhost"}
    if suite.bind_host in ("0.0.0.0", "::"):
        local_addresses |= {"127.0.0.1", "::1"}
    limits = Limits(max_message_size=settings.max_message_size)
    config = CoreConfig(
        host=advertised, ports={k: v for k, v in ports.items() if v}, local_addresses=local_addresses,
        node=suite.node(),
        registrar=RegistrarPolicy(min_expires=settings.min_expires, max_expires=settings.max_expires,
                                  default_expires=settings.default_expires, max_contacts=settings.max_contacts),
        invite_timeout=settings.invite_timeout, static_routes=settings.static_routes,
        require_auth_local_callers=settings.require_auth_local_callers, t1=settings.t1, limits=limits,
        client_rate=settings.client_rate, client_burst=settings.client_burst,
    )  # fmt: skip
    directory = BusDirectory(bus)
    await directory.watch()
    auth = DigestAuth(directory, NonceBook(lifetime=settings.nonce_lifetime), algorithms=settings.digest_algorithms)
    transport: SipTransport | None = None

    def send(data: bytes, peer: object) -> None:
        assert transport is not None
        transport.send(data, peer)  # type: ignore[arg-type]

    core = SipCore(config, send=send, directory=directory, auth=auth, locations=locations, pending=pending,
                   cdr=cdr, publish_im=bus.publish)  # fmt: skip
    if settings.media_mode == "anchor":
        core.b2bua = B2bua(core, BusMediaClient(bus, timeout=settings.media_timeout), B2buaConfig(
            session_expires=settings.session_expires, min_se=settings.min_se, max_calls=settings.max_calls,
            invite_timeout=settings.invite_timeout))  # fmt: skip
    presence = PresenceRuntime(bus, core, PresencePolicy(
        min_expires=settings.subscribe_min_expires, max_expires=settings.subscribe_max_expires,
        default_expires=settings.subscribe_default_expires, publish_max_expires=settings.publish_max_expires,
        max_subscriptions=settings.max_subscriptions))  # fmt: skip
    await presence.start()
    core.forwarding = SettingsCache(bus)
    await core.forwarding.watch()
    transport = SipTransport(
        hosts=hosts, udp_port=settings.udp_port, tcp_port=settings.tcp_port, tls_port=settings.tls_port,
        tls_context=tls_context(settings, suite), limits=limits, on_message=core.receive,
        idle_timeout=settings.idle_timeout, max_connections_per_client=settings.max_connections_per_client,
        ws_port=settings.ws_port,
    )  # fmt: skip
    await transport.start()

    async def listening() -> bool:
        return transport is not None and transport.serving

    ops_app = build_ops_app(SERVICE_NAME, {"bus": bus_check(bus), "listeners": listening})
    async with http_servers((ops_app, suite.bind_host, settings.ops_port)) as endpoints:
        _log.info("sip.started", hosts=hosts, ports=ports, advertised=advertised, ops_port=settings.ops_port)
        await wait_for_stop(stop, *endpoints)
        _log.info("sip.stopping")
        if core.b2bua is not None:
            await core.b2bua.close()  # hang up anchored calls while the transport can still say so
        await transport.close()
        await presence.close()
        await core.close()
    await bus.close()
    _log.info("sip.stopped")


def main() -> None:
    suite = SuiteSettings()
    settings = SipSettings()
    configure_logging(SERVICE_NAME, level=suite.log_level, fmt=suite.log_format, node=suite.node())
    # Under load tens of thousands of transactions wait for their timers (J is 32 s): with the default
    # thresholds the cyclic collector walks them hundreds of times a second. Imports stay out of it
    # for good (freeze), and young objects are collected after 50,000 allocations, not 700.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    run(lambda stop: serve(stop, suite, settings))
