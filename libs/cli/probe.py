"""Is the suite up? Probes shared by `parley up` (wait, then print endpoints)
and `parley status` (one look, as a table or JSON).

A service is *healthy* when its ops `/healthz` answers 200 (the process
runs) and *ready* when `/readyz` does (its database and the bus answer).
NATS counts as up when a TCP connection gets the server's `INFO` greeting,
which tells a live nats-server from any other program on that port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import asdict, dataclass

import httpx

from libs.cli.catalog import ServiceSpec
from libs.cli.natsd import Listen

PROBE_TIMEOUT = 2.0


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    ops_url: str
    healthy: bool
    ready: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def connect_host(bind_host: str) -> str:
    """Where a local client reaches a service bound to `bind_host` (wildcards mean loopback)."""
    if bind_host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if bind_host == "::":
        return "::1"
    return bind_host


def url_host(host: str) -> str:
    """`host` as it appears in a URL: IPv6 literals need brackets."""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    return host


def ops_url(spec: ServiceSpec, host: str) -> str:
    return f"http://{url_host(host)}:{spec.ops_port()}"


def http_client() -> httpx.AsyncClient:
    # trust_env=False: a proxy from the environment must not intercept loopback probes.
    return httpx.AsyncClient(timeout=PROBE_TIMEOUT, trust_env=False)


async def answers_ok(client: httpx.AsyncClient, url: str) -> bool:
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def probe_service(client: httpx.AsyncClient, spec: ServiceSpec, host: str) -> ServiceStatus:
    base = ops_url(spec, host)
    healthy, ready = await asyncio.gather(answers_ok(client, f"{base}/healthz"), answers_ok(client, f"{base}/readyz"))
    return ServiceStatus(name=spec.name, ops_url=base, healthy=healthy, ready=ready)


async def probe_services(specs: list[ServiceSpec], host: str) -> list[ServiceStatus]:
    async with http_client() as client:
        return list(await asyncio.gather(*(probe_service(client, spec, host) for spec in specs)))


async def nats_answers(listen: Listen, *, timeout: float = PROBE_TIMEOUT) -> bool:
    """True if a nats-server greets us with INFO at `listen`."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(listen.host, listen.port)
            try:
                greeting = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return False
    return greeting.startswith(b"INFO ")


async def wait_healthy(specs: list[ServiceSpec], host: str, *, timeout: float, stop: asyncio.Event) -> list[str]:
    """Poll `/healthz` until every service answers; the names still unhealthy at the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = list(specs)
    async with http_client() as client:
        while pending and loop.time() < deadline and not stop.is_set():
            results = await asyncio.gather(*(answers_ok(client, f"{ops_url(s, host)}/healthz") for s in pending))
            pending = [s for s, ok in zip(pending, results, strict=True) if not ok]
            if pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.25)
    return [s.name for s in pending]
