"""libs.bus against a real nats-server: typed request/reply, errors, JetStream helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from libs.bus import Bus, Encoded, Endpoint, ensure_kv, ensure_stream
from libs.contracts.base import Event, Message
from libs.contracts.errors import BadRequest, Conflict, ServiceError, Unavailable
from libs.testing.natsd import NatsServer


class Ping(Message):
    text: str


class Pong(Message):
    text: str


class Happened(Event):
    SUBJECT: ClassVar[str] = "test.thing.happened"
    what: str


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    bus = await Bus.open(nats_server.url, name="test", timeout=2)
    yield bus
    await bus.close()


async def echo(request: Ping) -> Pong:
    if request.text == "conflict":
        raise Conflict("already there")
    if request.text == "crash":
        raise RuntimeError("bug")
    return Pong(text=request.text.upper())


async def test_typed_request_reply_and_error_mapping(bus: Bus) -> None:
    await bus.serve(service="echo", version="1.0.0", endpoints=[Endpoint("echo", "test.rpc.echo", Ping, echo)])
    assert await bus.request("test.rpc.echo", Ping(text="hi"), Pong) == Pong(text="HI")
    with pytest.raises(Conflict, match="already there"):
        await bus.request("test.rpc.echo", Ping(text="conflict"), Pong)
    with pytest.raises(ServiceError, match="internal error"):
        await bus.request("test.rpc.echo", Ping(text="crash"), Pong)
    msg = await bus.nc.request("test.rpc.echo", b"{not json", timeout=2)
    assert msg.headers["Nats-Service-Error-Code"] == BadRequest.code


async def test_a_handler_may_answer_with_json_it_encoded_itself(bus: Bus) -> None:
    async def shout(request: Ping) -> Encoded:
        return Encoded(b'{"text": "%s"}' % request.text.upper().encode())

    await bus.serve(service="shout", version="1.0.0", endpoints=[Endpoint("shout", "test.rpc.shout", Ping, shout)])
    assert await bus.request("test.rpc.shout", Ping(text="hi"), Pong) == Pong(text="HI")


async def test_missing_owner_and_timeout_become_unavailable(bus: Bus) -> None:
    with pytest.raises(Unavailable, match="test.rpc.nobody"):
        await bus.request("test.rpc.nobody", Ping(text="x"), Pong)

    async def slow(msg) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(5)

    sub = await bus.nc.subscribe("test.rpc.slow", cb=slow)
    with pytest.raises(Unavailable, match="within"):
        await bus.request("test.rpc.slow", Ping(text="x"), Pong, timeout=0.2)
    await sub.unsubscribe()


async def test_events_carry_id_time_and_version(bus: Bus) -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def collect(msg) -> None:  # type: ignore[no-untyped-def]
        await received.put(msg.data)

    await bus.nc.subscribe(Happened.SUBJECT, cb=collect)
    await bus.publish(Happened(what="it"))
    event = Happened.model_validate_json(await asyncio.wait_for(received.get(), 2))
    assert event.what == "it" and event.schema_version == 1 and len(event.event_id) == 32


async def test_stream_and_kv_declarations_are_idempotent(bus: Bus) -> None:
    await ensure_stream(bus.js, name="TEST_STREAM", subjects=["test.stream.>"])
    await ensure_stream(bus.js, name="TEST_STREAM", subjects=["test.stream.>", "test.more.>"])
    info = await bus.js.stream_info("TEST_STREAM")
    assert set(info.config.subjects) == {"test.stream.>", "test.more.>"}
    ack = await bus.js.publish("test.more.x", b"1")
    assert ack.stream == "TEST_STREAM"
    kv = await ensure_kv(bus.js, bucket="test_bucket")
    await kv.put("alice=40example=2Etest", b"v")
    again = await ensure_kv(bus.js, bucket="test_bucket")
    assert (await again.get("alice=40example=2Etest")).value == b"v"


async def test_dead_letter_keeps_the_payload(bus: Bus) -> None:
    received: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()

    async def collect(msg) -> None:  # type: ignore[no-untyped-def]
        await received.put((msg.data, msg.headers["Parley-Reason"]))

    await bus.nc.subscribe("deadletter.test.thing.happened", cb=collect)
    await bus.dead_letter("test.thing.happened", b"garbage", "not a Happened")
    assert await asyncio.wait_for(received.get(), 2) == (b"garbage", "not a Happened")
