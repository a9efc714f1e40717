"""The B2BUA's calls to the media relay (libs.contracts.media) over the bus.

`OFFER` goes to any node (queue group); everything after it goes to the node
that took the offer, on `node_subject(node, command)`. The B2BUA depends only
on the `MediaClient` protocol, so its tests drive it with an in-memory relay.
"""

from __future__ import annotations

from typing import Protocol

from libs.bus import Bus
from libs.contracts import media


class MediaClient(Protocol):
    async def offer(self, request: media.OfferRequest) -> media.SdpReply: ...

    async def answer(self, node: str, request: media.AnswerRequest) -> media.SdpReply: ...

    async def reoffer(self, node: str, request: media.OfferRequest) -> media.SdpReply: ...

    async def delete(self, node: str, ref: media.SessionRef) -> media.StatsReply: ...


class BusMediaClient:
    def __init__(self, bus: Bus, *, timeout: float = 2.0) -> None:
        self.bus = bus
        self.timeout = timeout

    async def offer(self, request: media.OfferRequest) -> media.SdpReply:
        return await self.bus.request(media.OFFER, request, media.SdpReply, timeout=self.timeout)

    async def reoffer(self, node: str, request: media.OfferRequest) -> media.SdpReply:
        # A re-INVITE or UPDATE of an anchored call must reach the node holding its ports.
        subject = media.node_subject(node, media.OFFER)
        return await self.bus.request(subject, request, media.SdpReply, timeout=self.timeout)

    async def answer(self, node: str, request: media.AnswerRequest) -> media.SdpReply:
        subject = media.node_subject(node, media.ANSWER)
        return await self.bus.request(subject, request, media.SdpReply, timeout=self.timeout)

    async def delete(self, node: str, ref: media.SessionRef) -> media.StatsReply:
        subject = media.node_subject(node, media.DELETE)
        return await self.bus.request(subject, ref, media.StatsReply, timeout=self.timeout)
