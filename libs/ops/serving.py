"""The life of a service process around its work: HTTP endpoints (ops, admin)
served in the process's own loop, and waiting until it is told to stop.

Every service's `serve()` has the same shape:

    async with http_servers((ops_app, host, ops_port)) as endpoints:
        log "started"
        await wait_for_stop(stop, *endpoints)   # a signal, or an endpoint that died
        log "stopping"; close listeners and workers
    close bus, blobs, databases
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from libs.ops import http_server


@contextlib.asynccontextmanager
async def http_servers(*endpoints: tuple[FastAPI, str, int]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Serve each `(app, host, port)`; on leaving, stop them and wait until they are down."""
    servers = [http_server(app, host=host, port=port) for app, host, port in endpoints]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    try:
        yield tasks
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)


async def wait_for_stop(stop: asyncio.Event, *watched: asyncio.Task[None]) -> None:
    """Return when `stop` is set or one of `watched` ends (an endpoint that could not bind, say)."""
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([stopper, *watched], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
