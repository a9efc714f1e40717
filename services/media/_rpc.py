"""The media service's request/reply endpoints on the bus (a NATS micro service).

Every command is served twice: on `media.rpc.<command>` (any node: the queue group picks one,
which is right for a new offer) and on `node_subject(node, <command>)`, where the SIP side
sends everything about a session it already knows the node of.
"""

from __future__ import annotations

from libs.blobs import BlobNotFound, BlobStore
from libs.bus import Endpoint, timed
from libs.contracts import media as contract
from libs.contracts.errors import BadRequest, BlobMissing, NotFound
from services.media import _wav
from services.media._metrics import PORTS_IN_USE, RPC_SECONDS, SESSIONS
from services.media._sessions import Session, SessionManager, Side
from services.media.protocol.sdp import MediaDescription


class MediaRpc:
    def __init__(self, sessions: SessionManager, blobs: BlobStore) -> None:
        self._sessions = sessions
        self._blobs = blobs

    def endpoints(self, node: str) -> list[Endpoint]:
        handlers = {
            contract.OFFER: (contract.OfferRequest, self.offer),
            contract.ANSWER: (contract.AnswerRequest, self.answer),
            contract.DELETE: (contract.SessionRef, self.delete),
            contract.QUERY: (contract.SessionRef, self.query),
            contract.PLAY: (contract.PlayRequest, self.play),
            contract.RECORD: (contract.RecordRequest, self.record),
        }
        endpoints = []
        for subject, (model, handler) in handlers.items():
            name = subject.rsplit(".", 1)[-1]
            wrapped = timed(RPC_SECONDS, name, handler)
            endpoints.append(Endpoint(name, subject, model, wrapped))
            endpoints.append(Endpoint(f"node_{name}", contract.node_subject(node, subject), model, wrapped))
        return endpoints

    async def offer(self, request: contract.OfferRequest) -> contract.SdpReply:
        reply = self._sessions.offer(request)
        if contract.FLAG_RECORD in request.flags:
            session = self._sessions.get(request.call_id)
            for side in (session.a, session.b):
                for stream in side.streams.values():
                    session.relay.record(stream.rtp, True)
        self._observe()
        return reply

    async def answer(self, request: contract.AnswerRequest) -> contract.SdpReply:
        return self._sessions.answer(request)

    async def delete(self, request: contract.SessionRef) -> contract.StatsReply:
        reply = self._sessions.delete(request)
        self._observe()
        return reply

    async def query(self, request: contract.SessionRef) -> contract.StatsReply:
        return self._sessions.query(request)

    async def play(self, request: contract.PlayRequest) -> contract.PlayReply:
        session, side, index = self._audio_side(request.call_id, request.to_tag)
        media = _negotiated(session, side, index)
        try:
            data = await self._blobs.get(request.blob)
        except BlobNotFound:
            raise BlobMissing(f"no prompt {request.blob} in the blob store") from None
        if len(data) > _wav.MAX_PROMPT_BYTES:
            raise BadRequest("prompt too large")
        fmt, samples = _wav.read_wav(data)
        payload = _wav.to_g711(fmt, samples, media.encoding) * request.repeat
        session.relay.play(side.streams[index].rtp, payload, media.payload_type)
        return contract.PlayReply(duration_ms=len(payload) // 8)

    async def record(self, request: contract.RecordRequest) -> contract.RecordReply:
        session, side, index = self._audio_side(request.call_id, request.tag)
        leg = side.streams[index].rtp
        if request.start:
            session.relay.record(leg, True)
            return contract.RecordReply()
        samples = session.relay.record(leg, False)
        media = _negotiated(session, side, index)
        ref = await self._blobs.put(_wav.write_wav(samples, media.encoding))  # durable before we answer
        return contract.RecordReply(blob=ref.digest, duration_ms=len(samples) // 8)

    def _audio_side(self, call_id: str, tag: str) -> tuple[Session, Side, int]:
        session = self._sessions.get(call_id)
        side = session.side(tag)
        if side is None:
            raise NotFound(f"call {call_id!r} has no side {tag!r}")
        audio = [m.index for m in side.media if m.media == "audio" and m.index in side.streams]
        if not audio:
            raise BadRequest(f"side {tag!r} of call {call_id!r} has no relayed audio stream")
        return session, side, audio[0]

    def _observe(self) -> None:
        SESSIONS.set(len(self._sessions))
        PORTS_IN_USE.set(self._sessions.ports.in_use)


def _negotiated(session: Session, side: Side, index: int) -> MediaDescription:
    """The codec the call settled on: the first format of the answer (RFC 3264 section 6.1)."""
    answer = session.b.media if session.b.media else side.media
    for media in answer:
        if media.index == index:
            return media
    return next(m for m in side.media if m.index == index)
