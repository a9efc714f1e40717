"""The media service: a native RTP/RTCP relay anchored by SIP over the bus.

`media.rpc.offer/answer/delete/query/play/record` (and the same on this node's own subjects)
allocate port pairs, rewrite SDP and report statistics; the packets themselves never touch
Python: `services.media._relay` forwards them in native threads. A reaper removes sessions
whose media stopped and those whose call ended (`sip.call.ended`), so ports never leak.
Serves /healthz, /readyz and /metrics on its ops port.
"""

from __future__ import annotations

import asyncio
import contextlib

from libs.blobs import BlobSettings, blob_store_from_settings
from libs.bus import Bus
from libs.config import SuiteSettings
from libs.contracts import sip as sip_contract
from libs.contracts.errors import NotFound
from libs.contracts.media import SERVICE_NAME, SessionRef
from libs.log import configure_logging, get_logger
from libs.ops import build_ops_app, bus_check
from libs.ops.runner import run
from libs.ops.serving import http_servers, wait_for_stop
from services.media._metrics import PORTS_CAPACITY, PORTS_IN_USE, REAPED, SESSIONS
from services.media._ports import PortPool
from services.media._relay import Relay
from services.media._rpc import MediaRpc
from services.media._sessions import SessionManager
from services.media.config import MediaSettings

REAP_INTERVAL = 1.0

_log = get_logger()


def build_sessions(settings: MediaSettings, suite: SuiteSettings) -> SessionManager:
    relays = [Relay() for _ in range(settings.threads)]
    for relay in relays:
        relay.start()
    ports = PortPool(low=settings.port_min, high=settings.port_max, host=settings.bind_host(suite.bind_host))
    PORTS_CAPACITY.set(ports.capacity)
    return SessionManager(
        relays=relays,
        ports=ports,
        node=suite.node(),
        advertised_address=settings.sdp_address(suite.bind_host),
        relatch_ms=int(settings.relatch_after * 1000),
    )


async def reap_forever(sessions: SessionManager, timeout: float) -> None:
    """Remove sessions without packets for `timeout` seconds (a call that vanished without a delete)."""
    while True:
        await asyncio.sleep(REAP_INTERVAL)
        for call_id in sessions.reap_idle(timeout):
            REAPED.labels("inactive").inc()
            _log.info("media.session.reaped", call_id=call_id, reason="inactive")
        SESSIONS.set(len(sessions))
        PORTS_IN_USE.set(sessions.ports.in_use)


async def follow_call_ends(bus: Bus, sessions: SessionManager) -> None:
    """A call that ended (BYE, CANCEL, error) no longer needs its media, whoever forgot to delete it."""

    async def ended(msg) -> None:
        try:
            event = sip_contract.CallEnded.model_validate_json(msg.data)
        except ValueError:
            return  # sip's own subscribers dead-letter what they cannot read
        with contextlib.suppress(NotFound):
            sessions.delete(SessionRef(call_id=event.call_id))
            REAPED.labels("call_ended").inc()
            _log.info("media.session.reaped", call_id=event.call_id, reason="call_ended")

    await bus.nc.subscribe(sip_contract.CALL_ENDED, cb=ended)


async def serve(
    stop: asyncio.Event, suite: SuiteSettings, settings: MediaSettings, blob_settings: BlobSettings
) -> None:
    sessions = build_sessions(settings, suite)
    blobs = blob_store_from_settings(blob_settings, suite)
    bus = await Bus.open(suite.nats_url, name=SERVICE_NAME, timeout=suite.bus_timeout)
    rpc = MediaRpc(sessions, blobs)
    await bus.serve(service=SERVICE_NAME, version="1.0.0", endpoints=rpc.endpoints(suite.node()))
    await follow_call_ends(bus, sessions)
    reaper = asyncio.create_task(reap_forever(sessions, settings.inactivity_timeout))
    ops_app = build_ops_app(SERVICE_NAME, {"bus": bus_check(bus)})
    async with http_servers((ops_app, suite.bind_host, settings.ops_port)) as endpoints:
        _log.info(
            "media.started",
            ports=f"{settings.port_min}-{settings.port_max}",
            address=sessions.address,
            threads=settings.threads,
            ops_port=settings.ops_port,
        )
        await wait_for_stop(stop, *endpoints)
        _log.info("media.stopping")
        reaper.cancel()
    await bus.close()
    sessions.close()
    for relay in sessions.relays:
        relay.close()
    await blobs.close()
    _log.info("media.stopped")


def main() -> None:
    suite = SuiteSettings()
    settings = MediaSettings()
    blob_settings = BlobSettings()
    configure_logging(SERVICE_NAME, level=suite.log_level, fmt=suite.log_format, node=suite.node())
    run(lambda stop: serve(stop, suite, settings, blob_settings))
