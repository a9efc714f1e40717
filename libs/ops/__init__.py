"""The ops endpoint every service runs on its own port (91xx):
`/healthz` (the process is alive), `/readyz` (its dependencies answer) and
`/metrics` (Prometheus text format).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
)
from sqlalchemy import text

ReadinessCheck = Callable[[], Awaitable[bool]]


def build_ops_app(service: str, checks: dict[str, ReadinessCheck], registry: CollectorRegistry = REGISTRY) -> FastAPI:
    app = FastAPI(title=f"parley {service} ops", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"service": service, "status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        results: dict[str, bool] = {}
        for name, check in checks.items():
            try:
                results[name] = await asyncio.wait_for(check(), timeout=2.0)
            except Exception:
                results[name] = False
        ready = all(results.values())
        response.status_code = 200 if ready else 503
        return {"service": service, "ready": ready, "checks": results}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def http_server(app: FastAPI, *, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server that runs inside our own event loop (`await server.serve()`)."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    # Our process owns signal handling; uvicorn must not replace our handlers.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    return server


def database_check(engine: Any) -> ReadinessCheck:
    """Ready when the database answers `select 1`."""

    async def check() -> bool:
        async with engine.connect() as connection:
            await connection.execute(text("select 1"))
        return True

    return check


def bus_check(bus: Any) -> ReadinessCheck:
    """Ready while the NATS connection is up."""

    async def check() -> bool:
        return bool(bus.nc.is_connected)

    return check
