"""A stand-in for the media relay: the `libs.contracts.media` commands with a deterministic rewrite.

`FakeRelay` answers in memory (unit tests); `FakeMediaResponder` serves the
same answers on NATS in a thread (integration tests against the real sip
service). The rewrite puts `RELAY_HOST` in every c= line and a port per
session side in every m= line, so a test can tell rewritten SDP from the
phones' own; every request is kept so a test can check what was asked
(received_from, tags, node-addressed subjects).
"""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import UTC, datetime

import nats
from nats.micro.request import ERROR_CODE_HEADER, ERROR_HEADER

from libs.contracts import media
from libs.contracts.errors import NotFound, ServiceError

RELAY_HOST = "192.0.2.99"
NODE = "fake-node"


def rewrite(sdp: str, port: int, host: str = RELAY_HOST) -> str:
    sdp = re.sub(r"(?m)^c=IN IP[46] \S+", f"c=IN IP4 {host}", sdp)
    return re.sub(r"(?m)^m=(\w+) \d+", lambda m: f"m={m.group(1)} {port}", sdp)


class FakeRelay:
    def __init__(self, node: str = NODE, *, host: str = RELAY_HOST, ports: list[int] | None = None) -> None:
        self.node = node
        self.host = host
        self.sessions: dict[str, dict[str, int]] = {}  # call_id -> side -> port
        self.requests: list[tuple[str, object]] = []  # (command, request)
        self._ports = list(ports or [])  # the ports to hand out (a test may listen on them), then 40000 up
        self._next = 40000

    def _port(self, call_id: str, side: str) -> int:
        ports = self.sessions.setdefault(call_id, {})
        if side not in ports:
            if self._ports:
                ports[side] = self._ports.pop(0)
            else:
                ports[side] = self._next
                self._next += 2
        return ports[side]

    async def offer(self, request: media.OfferRequest) -> media.SdpReply:
        self.requests.append(("offer", request))
        return media.SdpReply(
            sdp=rewrite(request.sdp, self._port(request.call_id, "to:" + request.from_tag), self.host), node=self.node
        )

    async def reoffer(self, node: str, request: media.OfferRequest) -> media.SdpReply:
        if node != self.node or request.call_id not in self.sessions:
            raise NotFound("no such session on this node")
        return await self.offer(request)

    async def answer(self, node: str, request: media.AnswerRequest) -> media.SdpReply:
        self.requests.append(("answer", request))
        if node != self.node or request.call_id not in self.sessions:
            raise NotFound("no such session on this node")
        return media.SdpReply(
            sdp=rewrite(request.sdp, self._port(request.call_id, "to:" + request.to_tag), self.host), node=self.node
        )

    async def delete(self, node: str, ref: media.SessionRef) -> media.StatsReply:
        self.requests.append(("delete", ref))
        ports = self.sessions.pop(ref.call_id, None) if node == self.node else None
        if ports is None:
            raise NotFound("no such session on this node")
        legs = [
            media.LegStats(
                tag=side.removeprefix("to:"),
                local_port=port,
                latched=True,
                rtp=media.StreamCounters(packets=50, bytes=8600),
            )
            for side, port in sorted(ports.items())
        ]
        stats = media.SessionStats(call_id=ref.call_id, node=self.node, created_at=datetime.now(UTC), legs=legs)
        return media.StatsReply(stats=stats)

    def commands(self, call_id: str | None = None) -> list[str]:
        return [c for c, r in self.requests if call_id is None or getattr(r, "call_id", None) == call_id]


class FakeMediaResponder:
    """`FakeRelay` on the bus: OFFER on `media.rpc.offer` (queue group), the rest on the node's subjects."""

    def __init__(
        self, nats_url: str, node: str = NODE, *, host: str = RELAY_HOST, ports: list[int] | None = None
    ) -> None:
        self.nats_url = nats_url
        self.relay = FakeRelay(node, host=host, ports=ports)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FakeMediaResponder:
        self._thread.start()
        assert self._ready.wait(10), "the fake media responder did not connect"
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        nc = await nats.connect(self.nats_url)
        self._stop = asyncio.Event()
        relay = self.relay

        def handler(command: str):  # type: ignore[no-untyped-def]
            async def handle(msg) -> None:  # type: ignore[no-untyped-def]
                try:
                    if command == "offer" and msg.subject == media.OFFER:
                        reply = await relay.offer(media.OfferRequest.model_validate_json(msg.data))
                    elif command == "offer":
                        reply = await relay.reoffer(relay.node, media.OfferRequest.model_validate_json(msg.data))
                    elif command == "answer":
                        reply = await relay.answer(relay.node, media.AnswerRequest.model_validate_json(msg.data))
                    else:
                        reply = await relay.delete(relay.node, media.SessionRef.model_validate_json(msg.data))
                except ServiceError as exc:
                    await msg.respond(b"{}", headers={ERROR_CODE_HEADER: exc.code, ERROR_HEADER: str(exc)})
                    return
                await msg.respond(reply.model_dump_json().encode())

            return handle

        await nc.subscribe(media.OFFER, queue="media", cb=handler("offer"))
        for command in (media.OFFER, media.ANSWER, media.DELETE):
            name = command.rsplit(".", 1)[-1]
            await nc.subscribe(media.node_subject(relay.node, command), cb=handler(name))
        await nc.flush()
        self._ready.set()
        await self._stop.wait()
        await nc.close()
