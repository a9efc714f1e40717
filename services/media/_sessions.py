"""Relay sessions: which ports and native legs belong to which call, and their life cycle.

A session is one call (call-id) with two sides, named by their SIP tags: `a`, whose offer
created it, and `b`, the answerer. For every media description that is relayed each side gets
a port pair, and the relay links the two sides' RTP legs (and RTCP legs): what side a sends to
its port leaves through side b's port towards side b's endpoint, and back.

The offer is rewritten with the *other* side's ports (the answerer sends to them) and the
answer with the offerer's. A re-offer (re-INVITE, UPDATE) from either side reuses the ports.
Everything allocated is released on delete, on a failed allocation, and by `reap_idle()` for a
session whose media stopped, so ports never leak.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from libs.contracts import media as contract
from libs.contracts.errors import BadRequest, NotFound
from services.media._ports import PortPool
from services.media.protocol.sdp import MediaDescription, SdpError, SessionDescription, is_nat_private, parse, rewrite


@dataclass
class Stream:
    """One side's port pair for one media description, and its legs in the relay."""

    port: int
    rtp: int
    rtcp: int


@dataclass
class Side:
    tag: str
    streams: dict[int, Stream] = field(default_factory=dict)
    media: tuple[MediaDescription, ...] = ()  # from this side's latest SDP


@dataclass
class Session:
    call_id: str
    relay: Any  # services.media._relay.Relay
    a: Side
    b: Side
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def side(self, tag: str) -> Side | None:
        if tag and tag == self.a.tag:
            return self.a
        if tag and tag == self.b.tag:
            return self.b
        return None

    def other(self, side: Side) -> Side:
        return self.b if side is self.a else self.a


@dataclass(frozen=True)
class Target:
    """Where to send one endpoint's media before latching, and who may latch."""

    host: str
    port: int
    rtcp_host: str
    rtcp_port: int
    latch_ip: str
    symmetric: bool


def endpoint_target(media: MediaDescription, *, received_from: str, flags: list[str]) -> Target:
    """Apply the address rules of docs/media.md to one media description."""
    host, rtcp_host = media.address, media.rtcp_address
    trusted = contract.FLAG_TRUST_ADDRESS in flags
    if not trusted and received_from and is_nat_private(host):
        host = received_from  # the phone is behind a NAT: its media comes from the NAT's address
        rtcp_host = received_from if is_nat_private(rtcp_host) else rtcp_host
    latch_ip = "" if is_nat_private(host) else host
    if host in ("0.0.0.0", "::"):  # RFC 3264 section 8.4 (old-style hold): send nothing
        return Target("", 0, "", 0, "", symmetric=contract.FLAG_ASYMMETRIC not in flags)
    return Target(
        host=host,
        port=media.port,
        rtcp_host=rtcp_host,
        rtcp_port=media.rtcp_port,
        latch_ip=latch_ip,
        symmetric=contract.FLAG_ASYMMETRIC not in flags,
    )


class SessionManager:
    def __init__(
        self,
        *,
        relays: list[Any],
        ports: PortPool,
        node: str,
        advertised_address: str,
        relatch_ms: int = 2000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.relays = relays
        self.ports = ports
        self.node = node
        self.address = advertised_address
        self.relatch_ms = relatch_ms
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._turn = 0  # new sessions go to the relays in turn

    def __len__(self) -> int:
        return len(self._sessions)

    def call_ids(self) -> list[str]:
        return list(self._sessions)

    # --- commands --------------------------------------------------------------------------

    def offer(self, request: contract.OfferRequest) -> contract.SdpReply:
        sdp = _parse(request.sdp)
        session = self._sessions.get(request.call_id)
        created = session is None
        if session is None:
            relay = self.relays[self._turn % len(self.relays)]
            self._turn += 1
            session = Session(request.call_id, relay, Side(request.from_tag), Side(request.to_tag))
        offerer = session.side(request.from_tag)
        if offerer is None:
            raise BadRequest(f"tag {request.from_tag!r} is not a side of call {request.call_id!r}")
        other = session.other(offerer)
        if request.to_tag and not other.tag:
            other.tag = request.to_tag
        try:
            self._ensure_streams(session, offerer, sdp)
        except Exception:
            if created:
                self._release(session)
            raise
        self._sessions[session.call_id] = session
        self._target(session, offerer, sdp, received_from=request.received_from, flags=request.flags)
        ports = {i: s.port for i, s in other.streams.items()}
        return contract.SdpReply(sdp=rewrite(sdp, address=self.address, ports=ports), node=self.node)

    def answer(self, request: contract.AnswerRequest) -> contract.SdpReply:
        sdp = _parse(request.sdp)
        session = self.get(request.call_id)
        offerer = session.side(request.from_tag)
        if offerer is None:
            raise NotFound(f"call {request.call_id!r} has no side {request.from_tag!r}")
        answerer = session.other(offerer)
        if not answerer.tag:
            answerer.tag = request.to_tag
        elif answerer.tag != request.to_tag:
            raise BadRequest(f"call {request.call_id!r} was answered by {answerer.tag!r}, not {request.to_tag!r}")
        missing = [m.index for m in sdp.media if _relayed(m) and m.index not in answerer.streams]
        if missing:
            raise BadRequest(f"the answer has media {missing} that the offer did not (RFC 3264 section 6)")
        self._target(session, answerer, sdp, received_from=request.received_from, flags=request.flags)
        ports = {i: s.port for i, s in offerer.streams.items() if i < len(sdp.media) and sdp.media[i].port}
        return contract.SdpReply(sdp=rewrite(sdp, address=self.address, ports=ports), node=self.node)

    def delete(self, ref: contract.SessionRef) -> contract.StatsReply:
        session = self.get(ref.call_id)
        stats = self.stats(session)
        del self._sessions[session.call_id]
        self._release(session)
        return contract.StatsReply(stats=stats)

    def query(self, ref: contract.SessionRef) -> contract.StatsReply:
        return contract.StatsReply(stats=self.stats(self.get(ref.call_id)))

    def get(self, call_id: str) -> Session:
        session = self._sessions.get(call_id)
        if session is None:
            raise NotFound(f"no media session for call {call_id!r} on node {self.node}")
        return session

    # --- reaping -------------------------------------------------------------------------

    def idle_seconds(self, session: Session) -> float:
        """Seconds since any leg of the session last received a packet (or since it was set up)."""
        idle = [
            session.relay.stats(leg)["idle_ms"] / 1000
            for side in (session.a, session.b)
            for stream in side.streams.values()
            for leg in (stream.rtp, stream.rtcp)
        ]
        if not idle:
            return (self._clock() - session.created_at).total_seconds()
        return min(idle)

    def reap_idle(self, timeout: float) -> list[str]:
        """Delete every session quiet for `timeout` seconds; returns their call-ids."""
        reaped = [call_id for call_id, s in self._sessions.items() if self.idle_seconds(s) >= timeout]
        for call_id in reaped:
            self._release(self._sessions.pop(call_id))
        return reaped

    def close(self) -> None:
        for session in list(self._sessions.values()):
            self._release(session)
        self._sessions.clear()

    # --- statistics ----------------------------------------------------------------------

    def stats(self, session: Session) -> contract.SessionStats:
        legs: list[contract.LegStats] = []
        idle = None
        for side in (session.a, session.b):
            for index, stream in sorted(side.streams.items()):
                rtp, rtcp = session.relay.stats(stream.rtp), session.relay.stats(stream.rtcp)
                for counters in (rtp, rtcp):
                    if counters["packets"]:
                        idle = counters["idle_ms"] if idle is None else min(idle, counters["idle_ms"])
                legs.append(
                    contract.LegStats(
                        tag=side.tag,
                        media_index=index,
                        local_port=stream.port,
                        endpoint=rtp["endpoint"],
                        latched=rtp["latched"],
                        rtp=_counters(rtp),
                        rtcp=_counters(rtcp),
                    )
                )
        last = None if idle is None else self._clock() - timedelta(milliseconds=idle)
        return contract.SessionStats(
            call_id=session.call_id, node=self.node, created_at=session.created_at, last_packet_at=last, legs=legs
        )

    # --- internals ----------------------------------------------------------------------

    def _ensure_streams(self, session: Session, offerer: Side, sdp: SessionDescription) -> None:
        relay = session.relay
        for media in sdp.media:
            if not _relayed(media) or media.index in offerer.streams:
                continue
            pair = []
            for side in (offerer, session.other(offerer)):
                stream = side.streams.get(media.index) or self._open_stream(relay, media)
                side.streams[media.index] = stream
                pair.append(stream)
            relay.link(pair[0].rtp, pair[1].rtp)
            relay.link(pair[0].rtcp, pair[1].rtcp)

    def _open_stream(self, relay: Any, media: MediaDescription) -> Stream:
        port, rtp_sock, rtcp_sock = self.ports.take()
        try:
            rtp = relay.add(rtp_sock.fileno(), clock_rate=media.clock_rate, relatch_ms=self.relatch_ms)
            rtcp = relay.add(rtcp_sock.fileno(), rtcp=True, relatch_ms=self.relatch_ms)
        except Exception:
            self.ports.release(port)
            raise
        finally:
            rtp_sock.close()  # the relay holds its own descriptors
            rtcp_sock.close()
        return Stream(port=port, rtp=rtp, rtcp=rtcp)

    def _target(self, session: Session, side: Side, sdp: SessionDescription, *, received_from: str, flags: list[str]):
        side.media = sdp.media
        for media in sdp.media:
            stream = side.streams.get(media.index)
            if stream is None or not media.port:
                continue
            target = endpoint_target(media, received_from=received_from, flags=flags)
            relay = session.relay
            relay.target(stream.rtp, target.host, target.port, latch_ip=target.latch_ip, symmetric=target.symmetric)
            relay.target(
                stream.rtcp, target.rtcp_host, target.rtcp_port, latch_ip=target.latch_ip, symmetric=target.symmetric
            )

    def _release(self, session: Session) -> None:
        for side in (session.a, session.b):
            for stream in side.streams.values():
                for leg in (stream.rtp, stream.rtcp):
                    try:
                        session.relay.remove(leg)
                    except KeyError:
                        pass
                self.ports.release(stream.port)
            side.streams.clear()


def _parse(text: str) -> SessionDescription:
    try:
        return parse(text)
    except SdpError as exc:
        raise BadRequest(f"unusable SDP: {exc}") from None


def _relayed(media: MediaDescription) -> bool:
    return media.port > 0 and media.is_rtp


def _counters(raw: dict[str, Any]) -> contract.StreamCounters:
    return contract.StreamCounters(
        packets=raw["packets"],
        bytes=raw["bytes"],
        lost=raw["lost"],
        jitter_ms=round(raw["jitter_ms"], 3),
        malformed=raw["malformed"],
        foreign=raw["foreign"],
    )
