"""The media service as a real process, driven over a real NATS server with the contract's models."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from libs.blobs import BlobSettings, blob_store_from_settings
from libs.bus import Bus
from libs.config import SuiteSettings
from libs.contracts import media as contract
from libs.contracts import sip as sip_contract
from libs.contracts.errors import BadRequest, NotFound, Unavailable
from libs.testing.natsd import NatsServer
from libs.testing.ports import free_port
from libs.testing.services import ServiceProcess
from services.media import _wav
from services.media._relay import ulaw_encode
from tests.media.conftest import port_range
from tests.media.rtp import Phone, media_port, sdp

INACTIVITY = 2.0


@dataclass
class Media:
    process: ServiceProcess
    node: str
    data_dir: Path


def start_media(tmp_path: Path, nats_url: str, *, name: str, pairs: int = 40) -> Media:
    low, high = port_range(pairs)
    ops = free_port()
    data_dir = tmp_path / name
    process = ServiceProcess(
        "media",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_LOG_FORMAT": "console",
            "PARLEY_NODE_NAME": name,
            "PARLEY_MEDIA_PORT_MIN": str(low),
            "PARLEY_MEDIA_PORT_MAX": str(high),
            "PARLEY_MEDIA_INACTIVITY_TIMEOUT": str(INACTIVITY),
            "PARLEY_MEDIA_OPS_PORT": str(ops),
        },
        ops_port=ops,
        data_dir=data_dir,
    )
    process.start()
    return Media(process, name, data_dir)


@pytest.fixture(scope="module")
def nats() -> Iterator[NatsServer]:
    """A private server: one test stops it (SIGSTOP) to stand for a stuck control plane."""
    with NatsServer() as server:
        yield server


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, nats: NatsServer) -> Iterator[Media]:
    started = start_media(tmp_path_factory.mktemp("media"), nats.url, name="media-a")
    yield started
    started.process.stop()


@pytest.fixture
async def bus(nats: NatsServer) -> AsyncIterator[Bus]:
    b = await Bus.open(nats.url, name="media-test", timeout=5)
    yield b
    await b.close()


@pytest.fixture
def phones() -> Iterator[list[Phone]]:
    made: list[Phone] = []
    yield made
    for phone in made:
        phone.close()


async def call(bus: Bus, phones: list[Phone], call_id: str) -> tuple[Phone, Phone, int, int, str]:
    a, b = Phone(), Phone()
    phones += [a, b]
    offer = await bus.request(
        contract.OFFER,
        contract.OfferRequest(call_id=call_id, from_tag="fa", sdp=sdp(a.port), received_from="127.0.0.1"),
        contract.SdpReply,
    )
    answer = await bus.request(
        contract.node_subject(offer.node, contract.ANSWER),
        contract.AnswerRequest(call_id=call_id, from_tag="fa", to_tag="tb", sdp=sdp(b.port)),
        contract.SdpReply,
    )
    return a, b, media_port(answer.sdp), media_port(offer.sdp), offer.node


async def receive(phone: Phone, count: int) -> int:
    return len(await asyncio.to_thread(phone.receive, count))


async def test_offer_answer_query_delete(media: Media, bus: Bus, phones: list[Phone]) -> None:
    a, b, a_relay, b_relay, node = await call(bus, phones, "svc-1")
    assert node == media.node
    a.send(a_relay, 10)
    b.send(b_relay, 7)
    assert await receive(b, 10) == 10 and await receive(a, 7) == 7
    ref = contract.SessionRef(call_id="svc-1", from_tag="fa")
    query = await bus.request(contract.node_subject(node, contract.QUERY), ref, contract.StatsReply)
    packets = {(leg.tag, leg.rtp.packets) for leg in query.stats.legs}
    assert packets == {("fa", 10), ("tb", 7)}
    deleted = await bus.request(contract.node_subject(node, contract.DELETE), ref, contract.StatsReply)
    assert deleted.stats.call_id == "svc-1" and deleted.stats.last_packet_at is not None
    a.send(a_relay, 5)
    assert await asyncio.to_thread(b.drain, 0.5) == 0  # media stopped with the delete
    with pytest.raises(NotFound):
        await bus.request(contract.QUERY, ref, contract.StatsReply)


async def test_refusals_travel_as_service_errors(media: Media, bus: Bus) -> None:
    with pytest.raises(BadRequest):
        await bus.request(
            contract.OFFER, contract.OfferRequest(call_id="bad", from_tag="x", sdp="v=0\r\nnonsense"), contract.SdpReply
        )
    with pytest.raises(NotFound):
        await bus.request(contract.DELETE, contract.SessionRef(call_id="never-offered"), contract.StatsReply)


async def test_media_flows_while_the_bus_is_stuck(
    media: Media, nats: NatsServer, bus: Bus, phones: list[Phone]
) -> None:
    a, b, a_relay, b_relay, _ = await call(bus, phones, "svc-stuck")
    pid = nats._process.pid  # type: ignore[union-attr]
    os.kill(pid, signal.SIGSTOP)  # the control plane cannot hear or answer anything now
    try:
        a.send(a_relay, 50)
        b.send(b_relay, 50)
        assert await receive(b, 50) == 50 and await receive(a, 50) == 50
    finally:
        os.kill(pid, signal.SIGCONT)
    await bus.request(contract.DELETE, contract.SessionRef(call_id="svc-stuck"), contract.StatsReply)


async def test_inactive_session_is_reaped(media: Media, bus: Bus, phones: list[Phone]) -> None:
    a, b, a_relay, _, node = await call(bus, phones, "svc-idle")
    a.send(a_relay, 3)
    assert await receive(b, 3) == 3
    await asyncio.sleep(INACTIVITY)
    query = contract.node_subject(node, contract.QUERY)
    for _ in range(100):  # the reaper looks once a second
        try:
            await bus.request(query, contract.SessionRef(call_id="svc-idle"), contract.StatsReply)
        except NotFound:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the idle session was not reaped")


async def test_a_call_that_ended_takes_its_media_with_it(media: Media, bus: Bus, phones: list[Phone]) -> None:
    a, b, a_relay, _, node = await call(bus, phones, "svc-ended")
    now = datetime.now(UTC)
    ended = sip_contract.CallEnded(
        call_id="svc-ended", from_uri="sip:a@x", to_uri="sip:b@x", started_at=now, ended_at=now, status=200
    )
    await bus.publish(ended)
    await bus.nc.flush()
    for _ in range(50):
        try:
            await bus.request(
                contract.node_subject(node, contract.QUERY),
                contract.SessionRef(call_id="svc-ended"),
                contract.StatsReply,
            )
        except NotFound:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the session outlived its call")
    a.send(a_relay, 3)
    assert await asyncio.to_thread(b.drain, 0.3) == 0


async def test_play_a_prompt_and_record_a_side(media: Media, bus: Bus, phones: list[Phone]) -> None:
    a, b, a_relay, _, node = await call(bus, phones, "svc-prompt")
    blobs = blob_store_from_settings(BlobSettings(backend="local"), SuiteSettings(data_dir=media.data_dir))
    pcm = struct.pack("<400h", *([1000, -1000] * 200))  # 50 ms of 16-bit PCM
    wav = _pcm_wav(pcm)
    ref = await blobs.put(wav)
    played = await bus.request(
        contract.node_subject(node, contract.PLAY),
        contract.PlayRequest(call_id="svc-prompt", to_tag="fa", blob=ref.digest, repeat=2),
        contract.PlayReply,
    )
    assert played.duration_ms == 100
    got = await asyncio.to_thread(a.receive, 5)
    assert b"".join(data[12:] for data, _ in got) == ulaw_encode(pcm) * 2

    record = contract.node_subject(node, contract.RECORD)
    await bus.request(record, contract.RecordRequest(call_id="svc-prompt", tag="fa"), contract.RecordReply)
    a.send(a_relay, 3, payload=b"\x55" * 160)
    assert await receive(b, 3) == 3
    stopped = await bus.request(
        record, contract.RecordRequest(call_id="svc-prompt", tag="fa", start=False), contract.RecordReply
    )
    assert stopped.blob is not None and stopped.duration_ms == 60
    fmt, samples = _wav.read_wav(await blobs.get(stopped.blob))
    assert fmt == _wav.FORMAT_ULAW and samples == b"\x55" * 480
    await blobs.close()
    delete = contract.node_subject(node, contract.DELETE)
    await bus.request(delete, contract.SessionRef(call_id="svc-prompt"), contract.StatsReply)


def _pcm_wav(pcm: bytes) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", len(body)) + body


async def test_port_exhaustion_is_unavailable(tmp_path: Path, nats: NatsServer, bus: Bus) -> None:
    small = start_media(tmp_path, nats.url, name="media-small", pairs=2)

    def subject(command: str) -> str:
        return contract.node_subject(small.node, command)

    try:
        first = contract.OfferRequest(call_id="full-1", from_tag="a", sdp=sdp(4000))
        # The any-node subject could reach the other node; offers use small's own subject.
        await bus.request(subject(contract.OFFER), first, contract.SdpReply)
        with pytest.raises(Unavailable):
            second = contract.OfferRequest(call_id="full-2", from_tag="a", sdp=sdp(4002))
            await bus.request(subject(contract.OFFER), second, contract.SdpReply)
        await bus.request(subject(contract.DELETE), contract.SessionRef(call_id="full-1"), contract.StatsReply)
        await bus.request(subject(contract.OFFER), second, contract.SdpReply)  # the freed pairs are reused
    finally:
        small.process.stop()
