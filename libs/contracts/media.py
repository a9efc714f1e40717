"""The media service's public surface: RTP relay sessions, modelled on rtpengine's NG commands.

A SIP proxy or B2BUA anchors a call's media in a relay in four steps:

1. `OFFER` with the caller's SDP offer (RFC 3264). Any media node may take it
   (queue group); it allocates an even/odd port pair per media stream for each
   side, and returns the SDP rewritten so that the callee sends to the relay,
   plus its `node` name.
2. `ANSWER` with the callee's SDP answer, sent to that node
   (`node_subject(node, ANSWER)`); the reply is the answer rewritten so that the
   caller sends to the relay.
3. A re-INVITE or UPDATE (hold, resume, new codec) repeats `OFFER`/`ANSWER` for
   the same call-id and tags on the same node: the ports stay the same.
4. `DELETE` when the call ends; the reply carries the streams' statistics for the
   call detail record. A session that sees no packets for the inactivity timeout,
   or whose call vanished, is reaped by the node itself, so ports never leak.

A session is identified by `call_id`; its two sides by the SIP `from_tag`
(the caller's side) and `to_tag` (the callee's side). Every command other than
`OFFER` must go to the node that holds the session, on `node_subject(node, cmd)`;
`media.rpc.<cmd>` (any node) answers `not_found` for a session it does not hold.

Refusals are the errors of `libs.contracts.errors`: `bad_request` (SDP it cannot
parse), `not_found` (no such session on this node), `unavailable` (no free ports).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from libs.bus.subjects import encode_token
from libs.contracts.base import Message

SERVICE_NAME = "media"

OFFER = "media.rpc.offer"
ANSWER = "media.rpc.answer"
DELETE = "media.rpc.delete"
QUERY = "media.rpc.query"
PLAY = "media.rpc.play"
RECORD = "media.rpc.record"

COMMANDS = (OFFER, ANSWER, DELETE, QUERY, PLAY, RECORD)


def node_subject(node: str, command: str) -> str:
    """The subject on which one media node answers `command` for the sessions it holds."""
    operation = command.rsplit(".", 1)[-1]
    return f"media.node.{encode_token(node)}.rpc.{operation}"


# --- flags a caller may pass (rtpengine's names where one exists) ------------------------------

FLAG_TRUST_ADDRESS = "trust-address"  # use the address in the SDP, not the signalling source, before latching
FLAG_SYMMETRIC = "symmetric"  # latch: send to wherever the endpoint's packets come from (default)
FLAG_ASYMMETRIC = "asymmetric"  # never latch: send only to the SDP address (a trusted gateway)
FLAG_RECORD = "record"  # start recording both sides at once


# --- requests and replies ----------------------------------------------------------------------


class OfferRequest(Message):
    call_id: str = Field(min_length=1, max_length=256)
    from_tag: str = Field(min_length=1, max_length=256, description="the offering side's SIP tag")
    to_tag: str = Field("", max_length=256, description="the other side's tag, known on a re-INVITE")
    sdp: str = Field(min_length=1, max_length=65536, description="the SDP offer as received")
    received_from: str = Field(
        "", description="host the signalling came from; replaces a private SDP address unless trust-address"
    )
    flags: list[str] = Field(default_factory=list)


class AnswerRequest(Message):
    call_id: str = Field(min_length=1, max_length=256)
    from_tag: str = Field(min_length=1, max_length=256, description="the tag of the side that made the offer")
    to_tag: str = Field(min_length=1, max_length=256, description="the answering side's SIP tag")
    sdp: str = Field(min_length=1, max_length=65536, description="the SDP answer as received")
    received_from: str = ""
    flags: list[str] = Field(default_factory=list)


class SdpReply(Message):
    """The SDP rewritten to point at the relay, and the node that holds the session."""

    sdp: str
    node: str


class SessionRef(Message):
    """Names a session (and optionally one side) for delete, query."""

    call_id: str = Field(min_length=1, max_length=256)
    from_tag: str = Field("", max_length=256)
    to_tag: str = Field("", max_length=256)


class StreamCounters(Message):
    """What one relay port received from its endpoint (RTP or RTCP)."""

    packets: int = 0
    bytes: int = 0
    lost: int = Field(0, description="packets missing by RTP sequence number (RFC 3550 A.3)")
    jitter_ms: float = Field(0.0, description="interarrival jitter (RFC 3550 A.8)")
    malformed: int = Field(0, description="packets too short or not RTP version 2: counted and dropped")
    foreign: int = Field(0, description="packets from an unexpected source after latching: dropped")


class LegStats(Message):
    """One side of one media stream of a session."""

    tag: str
    media_index: int = 0
    local_port: int = Field(description="the relay's RTP port that this side sends to")
    endpoint: str = Field("", description="where the relay sends this side's media: host:port (latched)")
    latched: bool = False
    rtp: StreamCounters = Field(default_factory=StreamCounters)
    rtcp: StreamCounters = Field(default_factory=StreamCounters)


class SessionStats(Message):
    call_id: str
    node: str
    created_at: datetime
    last_packet_at: datetime | None = None
    legs: list[LegStats] = Field(default_factory=list)


class StatsReply(Message):
    """The reply to delete and query."""

    stats: SessionStats


class PlayRequest(Message):
    """Play a prompt into one side of a call (G.711 or PCM WAV, in the blob store)."""

    call_id: str = Field(min_length=1, max_length=256)
    to_tag: str = Field(min_length=1, description="the tag of the side that hears the prompt")
    blob: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the WAV file in the blob store")
    repeat: int = Field(1, ge=1, le=100)


class PlayReply(Message):
    duration_ms: int


class RecordRequest(Message):
    """Start or stop recording what one side sends; on stop the recording goes to the blob store."""

    call_id: str = Field(min_length=1, max_length=256)
    tag: str = Field(min_length=1, description="the side whose sent media is recorded")
    start: bool = True


class RecordReply(Message):
    blob: str | None = Field(None, description="sha256 of the WAV recording, on stop")
    duration_ms: int = 0
