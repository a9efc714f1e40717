"""The NATS bus as every service uses it.

- `connect()` opens a connection that reconnects forever (a restarted
  nats-server or a cluster fail-over is not a crash of ours);
  `Bus.on_reconnect()` tells a cache fed by events that it may have missed some.
- `Bus.request()` sends a typed request and returns a typed reply; a missing
  owner becomes `Unavailable` with a message that names the subject, and a
  micro-service error reply becomes the same `ServiceError` class the owner raised.
- `Bus.serve()` registers typed handlers as NATS micro-service endpoints
  (discoverable, with ping/stats/info for free). A handler returns its reply
  model, or `Encoded` JSON of that model when building the model would cost
  more than answering (thousands of records read as stored JSON).
- `ensure_stream()` / `ensure_kv()` declare JetStream state idempotently.
- `encode_token()` makes an account name safe to use as one subject token.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import nats.errors
import nats.micro
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.micro.request import ERROR_CODE_HEADER, ERROR_HEADER, Request
from nats.micro.service import Service
from pydantic import BaseModel, ValidationError

from libs.bus.subjects import decode_token, encode_token
from libs.contracts.base import Event, dead_letter_subject
from libs.contracts.errors import BadRequest, ServiceError, Unavailable, error_from_code
from libs.log import get_logger

__all__ = [
    "Bus",
    "Encoded",
    "Endpoint",
    "timed",
    "connect",
    "encode_token",
    "decode_token",
    "ensure_stream",
    "ensure_kv",
]

ReplyT = TypeVar("ReplyT", bound=BaseModel)
RequestT = TypeVar("RequestT", bound=BaseModel)

_log = get_logger()


async def connect(
    url: str,
    *,
    name: str,
    connect_timeout: float = 5.0,
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
) -> Client:
    """Connect with reconnect forever; the first connect must succeed within the timeout.
    `on_reconnect` runs after each reconnect (what was published meanwhile is lost to us)."""

    client: list[Client] = []

    async def on_disconnect() -> None:
        # A drain or close of our own also disconnects; only an unplanned loss is worth a warning.
        if client and (client[0].is_draining or client[0].is_closed):
            return
        _log.warning("bus.disconnected")

    async def reconnected() -> None:
        _log.info("bus.reconnected")
        if on_reconnect is not None:
            await on_reconnect()

    async def on_error(exc: Exception) -> None:
        _log.warning("bus.error", error=repr(exc))

    nc = await nats.connect(
        servers=[u.strip() for u in url.split(",") if u.strip()],
        name=name,
        connect_timeout=connect_timeout,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        disconnected_cb=on_disconnect,
        reconnected_cb=reconnected,
        error_cb=on_error,
    )
    client.append(nc)
    return nc


def timed(histogram: Any, operation: str, handler: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """Wrap a handler so each call's duration lands in `histogram` (a Prometheus Histogram
    with one label, the operation)."""

    child = histogram.labels(operation)  # looked up once, not per request

    async def wrapper(request: Any) -> Any:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            child.observe(time.perf_counter() - started)

    return wrapper


@dataclass(frozen=True)
class Encoded:
    """A reply already encoded: JSON that the endpoint's reply model parses, sent as it is."""

    data: bytes


@dataclass(frozen=True)
class Endpoint:
    """One request/reply operation: subject, request model and handler."""

    name: str
    subject: str
    request_model: type[BaseModel]
    handler: Callable[[Any], Awaitable[BaseModel | Encoded]]


class Bus:
    def __init__(self, nc: Client, *, timeout: float = 5.0, max_in_flight: int = 256) -> None:
        self.nc = nc
        self.timeout = timeout
        self._services: list[Service] = []
        # nats-py runs one subscription's callbacks one after another; handlers run as
        # tasks instead, so a slow request (a database commit) does not hold up the next,
        # and requests that arrive together can share work (storage's group commit).
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._reconnect_listeners: list[Callable[[], None]] = []

    @classmethod
    async def open(cls, url: str, *, name: str, timeout: float = 5.0) -> Bus:
        listeners: list[Callable[[], None]] = []

        async def reconnected() -> None:
            for listener in list(listeners):
                listener()

        bus = cls(await connect(url, name=name, on_reconnect=reconnected), timeout=timeout)
        bus._reconnect_listeners = listeners
        return bus

    def on_reconnect(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each reconnect of a bus made by `open()`: events published
        while we were away never reach us, so a cache fed by events should start afresh."""
        self._reconnect_listeners.append(listener)

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream()

    async def request(
        self, subject: str, payload: BaseModel, reply_model: type[ReplyT], *, timeout: float | None = None
    ) -> ReplyT:
        """Ask the owner of `subject`; raise a ServiceError subclass on any failure."""
        data = payload.model_dump_json().encode()
        try:
            msg = await self.nc.request(subject, data, timeout=timeout or self.timeout)
        except nats.errors.NoRespondersError:
            raise Unavailable(f"no service answers {subject}: is its owner running?") from None
        except nats.errors.TimeoutError:
            raise Unavailable(f"no reply on {subject} within {timeout or self.timeout:.1f}s") from None
        except nats.errors.ConnectionClosedError:
            raise Unavailable("the bus connection is closed") from None
        headers = msg.headers or {}
        if ERROR_CODE_HEADER in headers:
            raise error_from_code(headers[ERROR_CODE_HEADER], headers.get(ERROR_HEADER, ""))
        try:
            return reply_model.model_validate_json(msg.data)
        except ValidationError as exc:
            raise ServiceError(f"malformed reply on {subject}: {exc.error_count()} errors") from None

    async def publish(self, event: Event) -> None:
        await self.nc.publish(event.subject(), event.model_dump_json().encode())

    async def dead_letter(self, subject: str, data: bytes, reason: str) -> None:
        """Park a payload we could not understand, instead of dropping it silently."""
        _log.warning("bus.dead_letter", subject=subject, reason=reason)
        await self.nc.publish(dead_letter_subject(subject), data, headers={"Parley-Reason": reason[:500]})

    async def serve(
        self, *, service: str, version: str, endpoints: Sequence[Endpoint], description: str = ""
    ) -> Service:
        """Register endpoints as one NATS micro service; replicas share a queue group."""
        svc = await nats.micro.add_service(
            self.nc, name=service, version=version, description=description, queue_group=f"{service}-rpc"
        )
        for ep in endpoints:
            await svc.add_endpoint(name=ep.name, subject=ep.subject, handler=self._concurrent(_typed_handler(ep)))
        self._services.append(svc)
        return svc

    def _concurrent(self, handler: Callable[[Request], Awaitable[None]]) -> Callable[[Request], Awaitable[None]]:
        async def start(request: Request) -> None:
            await self._slots.acquire()  # back-pressure: past the limit, requests wait in the subscription
            task = asyncio.create_task(self._run(handler, request))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

        return start

    async def _run(self, handler: Callable[[Request], Awaitable[None]], request: Request) -> None:
        try:
            await handler(request)
        finally:
            self._slots.release()

    async def close(self) -> None:
        for svc in self._services:
            try:
                await svc.stop()
            except Exception:  # already gone with the connection
                pass
        self._services.clear()
        if self._in_flight:  # let accepted requests finish and answer before the connection goes
            await asyncio.wait(set(self._in_flight), timeout=10)
        if not self.nc.is_closed:
            try:
                await asyncio.wait_for(self.nc.drain(), timeout=5)
            except Exception:
                await self.nc.close()


def _typed_handler(ep: Endpoint) -> Callable[[Request], Awaitable[None]]:
    log = get_logger(endpoint=ep.subject)

    async def handle(request: Request) -> None:
        try:
            payload = ep.request_model.model_validate_json(request.data)
        except ValidationError as exc:
            await request.respond_error(BadRequest.code, _summarise(exc))
            return
        try:
            reply = await ep.handler(payload)
        except ServiceError as exc:
            await request.respond_error(exc.code, exc.message)
            return
        except Exception:
            log.exception("bus.handler.failed")
            await request.respond_error(ServiceError.code, "internal error")
            return
        await request.respond(reply.data if isinstance(reply, Encoded) else reply.model_dump_json().encode())

    return handle


def _summarise(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
    return f"invalid request: {where}: {first.get('msg', 'invalid')}"


async def ensure_stream(js: JetStreamContext, *, name: str, subjects: list[str], **config: Any) -> None:
    """Create the stream, or update it to this configuration if it exists."""
    cfg = StreamConfig(name=name, subjects=subjects, storage=StorageType.FILE, **config)
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(cfg)
    else:
        await js.update_stream(cfg)


async def ensure_kv(js: JetStreamContext, *, bucket: str, **config: Any) -> Any:
    """Return the KV bucket, creating it on first use."""
    try:
        return await js.key_value(bucket)
    except (BucketNotFoundError, NotFoundError):
        return await js.create_key_value(KeyValueConfig(bucket=bucket, storage=StorageType.FILE, **config))


def parse_json(data: bytes) -> Any:
    return json.loads(data)
