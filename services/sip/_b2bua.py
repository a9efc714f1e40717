"""Anchored calls: a back-to-back user agent that puts the media relay between the phones.

How this works
--------------
For an INVITE with an SDP offer to a local user (or through a static gateway
route) the core hands over to `B2bua.start` instead of proxying. The B2BUA is
then a UAS towards the caller (the A leg: its To tag, its Contact) and a UAC
towards every contact of the callee (the B leg: a new Call-ID, its own From
tag, forked in parallel to all bindings). The caller's offer goes to the relay
(`OFFER`, with the signalling source as `received_from`, so a phone that
writes a private address in its SDP still gets media); the callee's answer
(in a 18x or the 2xx) goes to the node that took the offer (`ANSWER`), and the
rewritten SDP goes back to the caller. The first 2xx wins: the other branches
are cancelled, a late 2xx from another branch is acknowledged and hung up.

Both legs' Contact is `sip:b2b-<id>@<us>`, so every in-dialog request reaches
this replica and names its call (`owns`). BYE from either side is answered
here and sent on to the other leg; re-INVITE and UPDATE (hold and resume,
RFC 6337) are re-offered to the relay on the same node and relayed with the
rewritten SDP; other in-dialog requests (INFO, MESSAGE, NOTIFY ...) pass
through. REFER (RFC 3515) from either party is a blind transfer: 202, the new
leg to the Refer-To target, NOTIFY with message/sipfrag progress, the
transferor's leg hung up once the target answers.

Every way a call ends (`_end`) deletes its relay session and publishes one
`CallEnded` carrying the relay's statistics and who hung up. Session timers
(`_sessiontimer`) end calls whose phone vanished. The calls live in this
replica's memory: bounded by `max_calls` (503 beyond).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from libs.contracts import media
from libs.contracts import sip as contract
from libs.contracts.directory import ResolveStatus
from libs.contracts.errors import BadRequest, ServiceError
from libs.log import get_logger
from services.sip import _metrics as metrics
from services.sip import _routing as routing
from services.sip import _sdp as sdp_rules
from services.sip import _sessiontimer as timers
from services.sip._media_client import MediaClient
from services.sip.protocol import (
    GrammarError,
    LocalProtocolError,
    Request,
    Response,
    SipUri,
    TransactionKey,
    Uri,
    Via,
    cancel_for,
    new_request,
    parse_name_addr,
    response,
)
from services.sip.transport import Peer

if TYPE_CHECKING:
    from services.sip._core import SipCore

_log = get_logger()

CONTACT_PREFIX = "b2b-"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY, MESSAGE"
SUPPORTED = ("timer",)
#: Headers of the caller's INVITE that the callee should see too.
PASSED_ON = ("Subject", "Priority", "Alert-Info", "Call-Info", "User-Agent", "Accept", "Accept-Language")
#: Headers of in-dialog requests and their responses that mean the same on the other leg.
RELAYED = (
    "Content-Type",
    "Event",
    "Subscription-State",
    "Reason",
    "Subject",
    "Info-Package",
    "Accept",
    "Warning",
    "Retry-After",
    "Unsupported",
)


@dataclass
class B2buaConfig:
    session_expires: int = 1800
    min_se: int = 90
    max_calls: int = 10_000
    invite_timeout: float = 180.0


@dataclass
class Target:
    """One contact the B leg forks to: the Request-URI, where to send, and the binding's Path."""

    uri: Uri
    peer: Peer
    route: list[str] = field(default_factory=list)


@dataclass
class Leg:
    """One dialog of the call, as the B2BUA sees it (RFC 3261 section 12)."""

    side: str  # "caller" or "callee"
    call_id: str
    local: str  # our address with our tag: From of the requests we send on this leg
    remote: str  # the phone's address (with its tag once known)
    local_tag: str
    target: Uri  # the phone's Contact (remote target)
    peer: Peer
    contact: str
    routes: list[str] = field(default_factory=list)
    remote_tag: str = ""
    cseq: int = 0
    remote_cseq: int = 0
    allow_update: bool = False
    sent_sdp: str = ""  # the SDP we last sent on this leg (a refresh re-INVITE repeats it)
    phone_sdp: str = ""  # the phone's last SDP (a transfer offers it to the new party)
    media_tag: str = ""  # this leg's side in the relay session, when not our own tag (`_media_tag`)


@dataclass
class Branch:
    key: TransactionKey
    request: Request
    peer: Peer
    provisional: bool = False
    done: bool = False
    cancel_pending: bool = False


@dataclass
class Relay:
    """An in-dialog request from one leg that went on to the other: its response comes back."""

    origin: Leg
    key: TransactionKey  # the server transaction on the origin leg
    request: Request
    offer: bool
    answered: bool = False


@dataclass
class Transfer:
    """A REFER in progress (RFC 3515): the transferor's leg waits for the new leg's outcome."""

    transferor: Leg
    keep: Leg  # the transferee: stays in the call
    event_id: str


@dataclass
class Call:
    id: str
    a: Leg
    a_key: TransactionKey
    a_invite: Request
    b_call_id: str
    b_from: str
    b_to: str
    started_at: datetime
    caller: str | None
    callee: str | None
    media_call_id: str = ""  # the relay session's name: the caller's Call-ID (a transfer keeps it)
    node: str = ""
    b_offer: str = ""  # the relay's rewrite of the caller's offer, as sent to the callee
    b: Leg | None = None
    state: str = "calling"  # calling -> answered -> ended
    branches: dict[TransactionKey, Branch] = field(default_factory=dict)
    finals: list[Response] = field(default_factory=list)
    early_sdp: str = ""  # the callee's rewritten answer from a 18x
    answered_at: datetime | None = None
    acked: bool = False
    cancelled: bool = False
    interval: int = 1800
    hold: str = "sendrecv"
    reinvite: bool = False  # a re-offer is in progress (RFC 3261 14.1: 491 for a second one)
    transfer: Transfer | None = None
    transfers: int = 0
    media_stats: list[media.LegStats] = field(default_factory=list)  # of relay sessions the call left
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    handles: list[asyncio.TimerHandle] = field(default_factory=list)


class B2bua:
    def __init__(self, core: SipCore, media_client: MediaClient, config: B2buaConfig) -> None:
        self.core = core
        self.media = media_client
        self.config = config
        self.calls: dict[str, Call] = {}
        self._by_invite: dict[TransactionKey, Call] = {}
        # Our client transactions: what each one belongs to (a B branch, a relayed request, our own).
        self._clients: dict[TransactionKey, tuple[Call, Any]] = {}
        self._finishing: set[asyncio.Task[Any]] = set()

    # -- entry points from the core ---------------------------------------------------
    async def start(
        self,
        key: TransactionKey,
        request: Request,
        peer: Peer,
        targets: list[Target],
        *,
        caller: str | None,
        callee: str | None,
    ) -> bool:
        """Take a new INVITE; False when the call is not anchored (no SDP offer, no relay) and the core proxies it."""
        offer = sdp_rules.sdp_of(request)
        from_tag = request.from_.tag
        if offer is None or not targets or not from_tag:
            return False
        if [t for t in request.require if t.lower() not in SUPPORTED]:
            return False  # an extension we do not implement as a UA (100rel ...): the phones may, through the proxy
        if timers.too_brief(request, self.config.min_se):
            self._reply(key, request, 422, [("Min-SE", str(self.config.min_se))])
            return True
        if len(self.calls) >= self.config.max_calls:
            self._reply(key, request, 503, [("Retry-After", "5")], reason="Service Unavailable (too many calls)")
            return True
        try:
            relayed = await self.media.offer(
                media.OfferRequest(call_id=request.call_id, from_tag=from_tag, sdp=offer, received_from=peer.host)
            )
        except BadRequest as exc:
            self._reply(key, request, 488, [("Warning", f'399 {self.core.config.host} "{_quote(str(exc))}"')])
            return True
        except ServiceError as exc:
            _log.warning("sip.b2bua.no_relay", call_id=request.call_id, error=str(exc))
            return False  # no relay answers: the call goes through the proxy, media end to end
        call = self._new_call(key, request, peer, caller=caller, callee=callee)
        if call.a.routes:  # requests to the caller go through the proxies that record-routed its INVITE
            call.a.peer = await self.core._peer_for(parse_name_addr(call.a.routes[0]).uri) or peer
        call.node = relayed.node
        call.media_call_id = request.call_id
        call.a.phone_sdp = offer
        call.b_offer = relayed.sdp
        call.interval = timers.interval_for(request, default=self.config.session_expires, minimum=self.config.min_se)
        self.calls[call.id] = call
        self._by_invite[key] = call
        metrics.ANCHORED_CALLS.set(len(self.calls))
        self._publish(contract.CallAttempted(**self._cdr_fields(call)))
        await self._fork(call, targets, relayed.sdp)
        call.handles.append(asyncio.get_running_loop().call_later(self.config.invite_timeout, self._ring_timeout, call))
        _log.info("sip.b2bua.call", call=call.id, call_id=request.call_id, branches=len(call.branches), node=call.node)
        return True

    def owns(self, request: Request) -> Call | None:
        """The call an in-dialog request (or ACK) addressed to one of our B2BUA Contacts belongs to."""
        uri = request.uri
        if not isinstance(uri, SipUri) or not (uri.user or "").startswith(CONTACT_PREFIX):
            return None
        if not self.core._is_us(uri):
            return None
        return self.calls.get((uri.user or "")[len(CONTACT_PREFIX) :]) or _GONE

    def cancel(self, key: TransactionKey, request: Request, invite_key: TransactionKey | None) -> bool:
        call = self._by_invite.get(invite_key) if invite_key is not None else None
        if call is None:
            return False
        self._reply(key, request, 200)
        if call.state == "calling":
            call.cancelled = True
            self._cancel_branches(call)
            self._respond_a(call, 487)
            self._end(call, status=487, ended_by="cancel", disconnected_by="caller")
        return True

    def on_ack(self, ack: Request) -> None:
        call = self.owns(ack)
        if call is None or call is _GONE:
            return
        if ack.call_id == call.a.call_id and ack.cseq.number == call.a_invite.cseq.number:
            call.acked = True
        # An ACK for a re-INVITE's 2xx: the other leg's 2xx was acknowledged when it came.

    def on_response(self, key: TransactionKey, resp: Response) -> bool:
        found = self._clients.get(key)
        if found is None:
            return False
        call, what = found
        if resp.status >= 300 or (resp.status >= 200 and resp.cseq.method != "INVITE"):
            self._clients.pop(key, None)  # a 2xx to an INVITE may come again (and from other forks): kept
        self.core._spawn(self._locked(call, self._response(call, what, key, resp)))
        return True

    def on_failure(self, key: TransactionKey, status: int) -> bool:
        found = self._clients.get(key)
        if found is None:
            return False
        _, what = found
        request = what.request if isinstance(what, Branch) else None
        if isinstance(what, _Xfer) and key in what.branches:
            request = what.branches[key].request
        return self.on_response(key, response(request, status) if request is not None else _synthetic_status(status))

    async def in_dialog(self, key: TransactionKey, request: Request, peer: Peer) -> None:
        call = self.owns(request)
        if call is None or call is _GONE or call.state == "ended":
            return self._reply(key, request, 481)
        leg, other = self._legs_of(call, request)
        if leg is None:
            return self._reply(key, request, 481)
        if request.cseq.number <= leg.remote_cseq:
            return self._reply(key, request, 500, reason="Server Internal Error (CSeq out of order)")
        leg.remote_cseq = request.cseq.number
        async with call.lock:
            await self._in_dialog(call, key, request, peer, leg, other)

    # -- the B leg -------------------------------------------------------------------
    def _new_call(
        self, key: TransactionKey, request: Request, peer: Peer, *, caller: str | None, callee: str | None
    ) -> Call:
        call_id = secrets.token_hex(8)
        a_tag = secrets.token_hex(6)
        contact = self._contact(call_id, peer)
        try:
            a_target = request.contacts[0].uri if request.contacts else request.from_.uri
        except GrammarError:
            a_target = request.from_.uri
        a = Leg(
            side="caller",
            call_id=request.call_id,
            local=str(request.to.with_tag(a_tag)),
            remote=request.headers.get("From") or "",
            local_tag=a_tag,
            target=a_target,
            peer=peer,
            contact=contact,
            routes=request.headers.values("Record-Route"),
            remote_tag=request.from_.tag or "",
            media_tag=request.from_.tag or "",
            remote_cseq=request.cseq.number,
            allow_update=_allows(request, "UPDATE"),
        )
        b_from = str(request.from_.with_tag(secrets.token_hex(6)))
        to = request.to
        return Call(
            id=call_id,
            a=a,
            a_key=key,
            a_invite=request,
            b_call_id=f"{secrets.token_hex(12)}@{self.core.config.host}",
            b_from=b_from,
            b_to=str(to),
            started_at=datetime.now(UTC),
            caller=caller,
            callee=callee,
        )

    async def _fork(self, call: Call, targets: list[Target], sdp: str) -> None:
        for target in targets:
            via = self._via(target.peer)
            invite = new_request(
                "INVITE",
                target.uri,
                via=via,
                from_=parse_name_addr(call.b_from),
                to=parse_name_addr(call.b_to),
                call_id=call.b_call_id,
                cseq=1,
                max_forwards=max((call.a_invite.max_forwards or 70) - 1, 1),
                contact=parse_name_addr(f"<{self._contact(call.id, target.peer)}>"),
                body=sdp.encode(),
                content_type="application/sdp",
            )
            for value in target.route:
                invite.headers.add("Route", value)
            for name in PASSED_ON:
                for value in call.a_invite.headers.values(name):
                    invite.headers.add(name, value)
            invite.headers.add("Allow", ALLOW)
            invite.headers.add("Supported", "timer")
            invite.headers.add("Session-Expires", f"{call.interval};refresher=uac")
            invite.headers.add("Min-SE", str(self.config.min_se))
            branch = Branch(_client_key(invite), invite, target.peer)
            call.branches[branch.key] = branch
            self._clients[branch.key] = (call, branch)
            self._send_request(invite, target.peer)

    async def _branch_response(self, call: Call, branch: Branch, resp: Response) -> None:
        if resp.status < 200:
            if resp.status > 100:
                await self._provisional(call, branch, resp)
            elif branch.cancel_pending:
                branch.provisional = True
                self._cancel_branch(branch)
            return
        if 200 <= resp.status < 300:
            return await self._answered(call, branch, resp)
        branch.done = True
        if call.state != "calling":
            return
        call.finals.append(resp)
        if all(b.done for b in call.branches.values()):
            await self._failed(call)

    async def _provisional(self, call: Call, branch: Branch, resp: Response) -> None:
        branch.provisional = True
        if branch.cancel_pending:
            branch.cancel_pending = False
            return self._cancel_branch(branch)
        if call.state != "calling":
            return
        sdp = sdp_rules.sdp_of(resp)
        body = None
        if sdp is not None and resp.to.tag:
            try:
                body = await self._answer(call, sdp, branch.peer.host)
                call.early_sdp = body
            except ServiceError as exc:
                _log.warning("sip.b2bua.early_answer_failed", call=call.id, error=str(exc))
        if call.state == "calling":
            self._respond_a(call, resp.status, resp.reason, body=body)

    async def _answered(self, call: Call, branch: Branch, resp: Response) -> None:
        branch.done = True
        tag = resp.to.tag or ""
        if call.b is not None and tag == call.b.remote_tag:
            self._ack(call.b, resp, branch.request.cseq.number)  # a retransmitted 2xx: ACK again
            return
        leg = await self._callee_leg(call, branch, resp)
        self._ack(leg, resp, branch.request.cseq.number)
        if call.state != "calling":
            # Section 13.2.2.4: a 2xx after the call was decided (another branch won, or it was cancelled).
            self._send_own(call, leg, "BYE")
            return
        call.b = leg
        for other in call.branches.values():
            if other is not branch and not other.done:
                self._cancel_branch(other)
        sdp = sdp_rules.sdp_of(resp)
        try:
            body = await self._answer(call, sdp, branch.peer.host) if sdp is not None else call.early_sdp
        except ServiceError as exc:
            _log.warning("sip.b2bua.answer_failed", call=call.id, error=str(exc))
            body = ""
        if not body:
            self._send_own(call, leg, "BYE")
            self._respond_a(call, 502, "Bad Gateway (no usable SDP answer)")
            return self._end(call, status=502, ended_by="error", disconnected_by="system")
        call.state = "answered"
        call.answered_at = datetime.now(UTC)
        leg.sent_sdp = call.b_offer
        leg.phone_sdp = sdp or ""
        self._respond_a(call, 200, "OK", body=body, headers=self._session_headers(call))
        self._publish(contract.CallAnswered(**self._cdr_fields(call), answered_at=call.answered_at, status=resp.status))
        self._start_refresh(call)

    async def _callee_leg(self, call: Call, branch: Branch, resp: Response) -> Leg:
        try:
            target = resp.contacts[0].uri if resp.contacts else branch.request.uri
        except GrammarError:
            target = branch.request.uri
        routes = list(reversed(resp.headers.values("Record-Route")))
        peer = branch.peer
        if routes:
            peer = await self.core._peer_for(parse_name_addr(routes[0]).uri) or peer
        assert target is not None
        return Leg(
            side="callee",
            call_id=call.b_call_id,
            local=call.b_from,
            remote=resp.headers.get("To") or "",
            local_tag=branch.request.from_.tag or "",
            target=target,
            peer=peer,
            contact=self._contact(call.id, peer),
            routes=routes,
            remote_tag=resp.to.tag or "",
            cseq=1,
            allow_update=_allows(resp, "UPDATE"),
        )

    async def _failed(self, call: Call) -> None:
        best = routing.best_response(call.finals)
        status = best.status if best is not None else 408
        if status == 503:
            status = 500  # section 16.7 step 6: the caller must not think we are overloaded
        headers = []
        if best is not None:
            headers = [(n, v) for n in ("Retry-After", "Warning") for v in best.headers.values(n)]
            if 300 <= status < 400:
                headers += [("Contact", v) for v in best.headers.values("Contact")]
        reason = best.reason if best is not None and best.status == status else None
        self._respond_a(call, status, reason, headers=headers)
        by = "caller" if call.cancelled else ("system" if status == 408 else "callee")
        self._end(call, status=status, ended_by="timeout" if status == 408 else "error", disconnected_by=by)

    def _ring_timeout(self, call: Call) -> None:
        """Timer C (RFC 3261 section 16.6 step 11), for the B2BUA's own branches: 408 to the caller."""
        if call.state != "calling":
            return
        self._cancel_branches(call)
        self._respond_a(call, 408)
        self._end(call, status=408, ended_by="timeout", disconnected_by="system")

    def _cancel_branches(self, call: Call) -> None:
        for branch in call.branches.values():
            if not branch.done:
                self._cancel_branch(branch)

    def _cancel_branch(self, branch: Branch) -> None:
        if branch.done:
            return
        if not branch.provisional:
            branch.cancel_pending = True  # section 9.1: not before a provisional response
            return
        with contextlib.suppress(LocalProtocolError):
            self.core._act(
                self.core.layer.send_request(
                    cancel_for(branch.request), now=self.core.now(), peer=branch.peer, reliable=branch.peer.reliable
                )
            )

    # -- in-dialog requests ----------------------------------------------------------
    def _legs_of(self, call: Call, request: Request) -> tuple[Leg | None, Leg | None]:
        tag = request.from_.tag
        if request.call_id == call.a.call_id and tag == call.a.remote_tag:
            return call.a, call.b
        if call.b is not None and request.call_id == call.b.call_id and tag == call.b.remote_tag:
            return call.b, call.a
        return None, None

    async def _in_dialog(
        self, call: Call, key: TransactionKey, request: Request, peer: Peer, leg: Leg, other: Leg | None
    ) -> None:
        if call.state == "ended":
            return self._reply(key, request, 481)
        method = request.method
        if other is None:  # the caller's early dialog, before the callee answered
            if method == "BYE":
                self._reply(key, request, 200)
                call.cancelled = True
                self._cancel_branches(call)
                self._respond_a(call, 487)
                return self._end(call, status=487, ended_by="cancel", disconnected_by="caller")
            return self._reply(key, request, 491 if method in ("INVITE", "UPDATE") else 481)
        if method == "BYE":
            self._reply(key, request, 200)
            self._send_own(call, other, "BYE")
            return self._end(call, status=200, ended_by="bye", disconnected_by=leg.side)
        if method == "REFER":
            return await self._refer(call, key, request, leg, other)
        if method in ("INVITE", "UPDATE"):
            return await self._reoffer(call, key, request, peer, leg, other)
        self._relay(call, key, request, leg, other, body=request.body)

    async def _reoffer(
        self, call: Call, key: TransactionKey, request: Request, peer: Peer, leg: Leg, other: Leg
    ) -> None:
        offer = sdp_rules.sdp_of(request)
        if offer is None and request.method == "INVITE":
            # An offerless re-INVITE would need the answer carried in the ACK: not relayed.
            return self._reply(key, request, 488, reason="Not Acceptable Here (re-INVITE without an offer)")
        if call.reinvite:
            return self._reply(key, request, 491, [("Retry-After", "1")])
        body = b""
        if offer is not None:
            try:
                rewritten = await self.media.reoffer(
                    call.node,
                    media.OfferRequest(
                        call_id=call.media_call_id,
                        from_tag=_media_tag(leg),
                        to_tag=_media_tag(other),
                        sdp=offer,
                        received_from=peer.host,
                    ),
                )
            except BadRequest as exc:
                return self._reply(
                    key, request, 488, [("Warning", f'399 {self.core.config.host} "{_quote(str(exc))}"')]
                )
            except ServiceError as exc:
                _log.warning("sip.b2bua.reoffer_failed", call=call.id, error=str(exc))
                return self._reply(key, request, 500, [("Retry-After", "2")])
            body = rewritten.sdp.encode()
            leg.phone_sdp = offer
            call.hold = sdp_rules.direction(offer)
        call.reinvite = request.method == "INVITE"
        self._relay(call, key, request, leg, other, body=body, offer=offer is not None)

    def _relay(
        self,
        call: Call,
        key: TransactionKey,
        request: Request,
        leg: Leg,
        other: Leg,
        *,
        body: bytes,
        offer: bool = False,
    ) -> None:
        headers = [(n, v) for n in RELAYED for v in request.headers.values(n)]
        if request.method in ("INVITE", "UPDATE"):
            headers = [(n, v) for n, v in headers if n != "Content-Type"]
            if body:
                headers.append(("Content-Type", "application/sdp"))
        out = self._request_on(other, request.method, body=body, headers=headers)
        if body and offer:
            other.sent_sdp = body.decode()
        self._clients[_client_key(out)] = (call, Relay(leg, key, request, offer))
        self._send_request(out, other.peer)

    async def _relay_response(self, call: Call, relay: Relay, resp: Response) -> None:
        request = relay.request
        if resp.status < 200:
            return  # the origin's transaction already got its 100 Trying
        if relay.answered:
            if request.method == "INVITE" and resp.status < 300:
                self._ack(call.b if relay.origin is call.a else call.a, resp, resp.cseq.number)  # type: ignore[arg-type]
            return
        relay.answered = True
        if request.method == "INVITE":
            call.reinvite = False
            if 200 <= resp.status < 300 and call.b is not None:
                self._ack(call.b if relay.origin is call.a else call.a, resp, resp.cseq.number)
        body = b""
        sdp = sdp_rules.sdp_of(resp)
        if relay.offer and sdp is not None and 200 <= resp.status < 300:
            other = call.b if relay.origin is call.a else call.a
            assert other is not None
            try:
                answered = await self.media.answer(
                    call.node,
                    media.AnswerRequest(
                        call_id=call.media_call_id,
                        from_tag=_media_tag(relay.origin),
                        to_tag=_media_tag(other),
                        sdp=sdp,
                        received_from=other.peer.host,
                    ),
                )
                body = answered.sdp.encode()
                other.phone_sdp = sdp
            except ServiceError as exc:
                _log.warning("sip.b2bua.reanswer_failed", call=call.id, error=str(exc))
        elif sdp is None and resp.body:
            body = resp.body
        reply = response(request, resp.status, resp.reason)
        for name in RELAYED:
            for value in resp.headers.values(name):
                if name != "Content-Type":
                    reply.headers.add(name, value)
        if 200 <= resp.status < 300 and request.method in ("INVITE", "UPDATE"):
            reply.headers.add("Contact", f"<{relay.origin.contact}>")
        if body and relay.offer:
            relay.origin.sent_sdp = body.decode(errors="replace")
            reply.set_body(body, "application/sdp" if relay.offer else resp.headers.get("Content-Type"))
        self._send_response(relay.key, reply)
        if resp.status in (408, 481):
            # RFC 5057 section 5.1: the far dialog is gone; so is the call.
            self._send_own(call, relay.origin, "BYE")
            other = call.b if relay.origin is call.a else call.a
            self._end(call, status=200, ended_by="error", disconnected_by="system")

    # -- blind transfer (RFC 3515) ----------------------------------------------------
    async def _refer(self, call: Call, key: TransactionKey, request: Request, leg: Leg, other: Leg) -> None:
        values = request.headers.values("Refer-To") or request.headers.values("r")
        if len(values) != 1:
            return self._reply(key, request, 400, reason="Bad Request (one Refer-To expected)")
        try:
            refer_to = parse_name_addr(values[0]).uri
        except GrammarError:
            return self._reply(key, request, 400, reason="Bad Request (Refer-To)")
        if not isinstance(refer_to, SipUri) or refer_to.user is None or refer_to.headers:
            return self._reply(key, request, 403, reason="Forbidden (only sip: users may be transfer targets)")
        if call.transfer is not None or call.reinvite:
            return self._reply(key, request, 491, [("Retry-After", "1")])
        targets = await self._transfer_targets(refer_to)
        if targets is None:
            return self._reply(key, request, 403, reason="Forbidden (not a local user)")
        if not targets:
            return self._reply(key, request, 480)
        transfer = Transfer(transferor=leg, keep=other, event_id=str(request.cseq.number))
        call.transfer = transfer
        self._reply(key, request, 202)
        self._notify(call, transfer, "SIP/2.0 100 Trying", active=True)
        # The transferee and the target get a relay session of their own (a relay session's sides are
        # fixed by their tags); the transferee moves to it by re-INVITE once the target answers.
        call.transfers += 1
        media_call_id = f"{call.media_call_id.split(';')[0]};xfer{call.transfers}"
        try:
            offer = await self.media.offer(
                media.OfferRequest(
                    call_id=media_call_id,
                    from_tag=_media_tag(other),
                    sdp=other.phone_sdp or "-",
                    received_from=other.peer.host,
                ),
            )
        except ServiceError as exc:
            _log.warning("sip.b2bua.transfer_offer_failed", call=call.id, error=str(exc))
            self._notify(call, transfer, "SIP/2.0 503 Service Unavailable", active=False)
            call.transfer = None
            return
        # The new leg starts as a fresh INVITE on its own Call-ID, from the transferee's address.
        invite_to = f"<{refer_to}>"
        xfer = _Xfer(
            call=call,
            transfer=transfer,
            call_id=f"{secrets.token_hex(12)}@{self.core.config.host}",
            local=str(parse_name_addr(other.remote).with_tag(secrets.token_hex(6))),
            remote=invite_to,
            offer=offer.sdp,
            media_call_id=media_call_id,
            node=offer.node,
        )
        for target in targets:
            via = self._via(target.peer)
            invite = new_request(
                "INVITE",
                target.uri,
                via=via,
                from_=parse_name_addr(xfer.local),
                to=parse_name_addr(invite_to),
                call_id=xfer.call_id,
                cseq=1,
                contact=parse_name_addr(f"<{self._contact(call.id, target.peer)}>"),
                body=offer.sdp.encode(),
                content_type="application/sdp",
            )
            for value in target.route:
                invite.headers.add("Route", value)
            invite.headers.add("Allow", ALLOW)
            invite.headers.add("Referred-By", f"<{parse_name_addr(leg.remote).uri}>")
            branch = Branch(_client_key(invite), invite, target.peer)
            xfer.branches[branch.key] = branch
            self._clients[branch.key] = (call, xfer)
            self._send_request(invite, target.peer)

    async def _transfer_targets(self, uri: SipUri) -> list[Target] | None:
        """The contacts of a local user (None when the target is not ours: no relaying for anyone)."""
        resolved = await self.core.directory.resolve(f"{uri.user_unescaped}@{uri.host.strip('[]').lower()}")
        if resolved.status is not ResolveStatus.LOCAL:
            return None
        bindings = []
        for account in resolved.accounts:
            bindings += await self.core.locations.bindings(account, time.time())
        return await self.core.b2bua_targets(bindings)

    async def _transfer_response(self, call: Call, xfer: _Xfer, key: TransactionKey, resp: Response) -> None:
        branch = xfer.branches.get(key)
        if branch is None:
            return
        if branch.done and 200 <= resp.status < 300 and resp.to.tag in xfer.answered_tags:
            self._ack(xfer.legs[resp.to.tag or ""], resp, 1)  # a retransmitted 2xx: ACKed again
            return
        transfer = xfer.transfer
        if resp.status < 200:
            branch.provisional = True  # RFC 3515 2.4.5: NOTIFY is owed only for the final outcome
            if branch.cancel_pending:
                branch.cancel_pending = False
                self._cancel_branch(branch)
            return
        branch.done = True
        if resp.status >= 300:
            xfer.finals.append(resp)
            if all(b.done for b in xfer.branches.values()) and not xfer.done:
                xfer.done = True
                best = routing.best_response(xfer.finals)
                status = f"{best.status} {best.reason}" if best is not None else "408 Request Timeout"
                self._notify(call, transfer, f"SIP/2.0 {status}", active=False)
                call.transfer = None
                self.core._spawn(self._delete_quietly(xfer.node, xfer.media_call_id))
            return
        leg = Leg(
            side=transfer.transferor.side,
            call_id=xfer.call_id,
            local=xfer.local,
            remote=resp.headers.get("To") or "",
            local_tag=branch.request.from_.tag or "",
            target=(resp.contacts[0].uri if resp.contacts else branch.request.uri) or branch.request.uri,
            peer=branch.peer,
            contact=self._contact(call.id, branch.peer),
            routes=list(reversed(resp.headers.values("Record-Route"))),
            remote_tag=resp.to.tag or "",
            cseq=1,
            allow_update=_allows(resp, "UPDATE"),
        )
        self._ack(leg, resp, 1)
        xfer.answered_tags.add(leg.remote_tag)
        xfer.legs[leg.remote_tag] = leg
        if xfer.done or call.state != "answered":
            self._send_own(call, leg, "BYE")
            return
        xfer.done = True
        for other in xfer.branches.values():
            if other is not branch and not other.done:
                self._cancel_branch(other)
        sdp = sdp_rules.sdp_of(resp)
        try:
            if sdp is None:
                raise ServiceError("the transfer target answered without SDP")
            answered = await self.media.answer(
                xfer.node,
                media.AnswerRequest(
                    call_id=xfer.media_call_id,
                    from_tag=_media_tag(transfer.keep),
                    to_tag=leg.local_tag,
                    sdp=sdp,
                    received_from=branch.peer.host,
                ),
            )
        except ServiceError as exc:
            _log.warning("sip.b2bua.transfer_answer_failed", call=call.id, error=str(exc))
            self._send_own(call, leg, "BYE")
            self._notify(call, transfer, "SIP/2.0 488 Not Acceptable Here", active=False)
            call.transfer = None
            self.core._spawn(self._delete_quietly(xfer.node, xfer.media_call_id))
            return
        leg.sent_sdp, leg.phone_sdp = xfer.offer, sdp
        # The call's media moves to the new session: the old one's counters go into the record.
        old_node, old_id = call.node, call.media_call_id
        call.node, call.media_call_id = xfer.node, xfer.media_call_id
        self.core._spawn(self._delete_quietly(old_node, old_id, keep=call))
        transfer.keep.sent_sdp = answered.sdp
        self._send_own(call, transfer.keep, "INVITE", body=answered.sdp.encode(), moved=True)
        self._notify(call, transfer, "SIP/2.0 200 OK", active=False)
        self._send_own(call, transfer.transferor, "BYE")
        # The new leg replaces the transferor's: the call goes on under the same record.
        leg.side = transfer.transferor.side
        if transfer.transferor is call.a:
            call.a = _renamed(leg, call.a)
        else:
            call.b = leg
        call.transfer = None
        _log.info("sip.b2bua.transferred", call=call.id, to=str(branch.request.uri))

    def _notify(self, call: Call, transfer: Transfer, status_line: str, *, active: bool) -> None:
        state = "active;expires=60" if active else "terminated;reason=noresource"
        headers = [("Event", f"refer;id={transfer.event_id}"), ("Subscription-State", state)]
        self._send_own(
            call,
            transfer.transferor,
            "NOTIFY",
            body=f"{status_line}\r\n".encode(),
            headers=headers,
            content_type="message/sipfrag;version=2.0",
        )

    # -- session timers --------------------------------------------------------------
    def _session_headers(self, call: Call) -> list[tuple[str, str]]:
        headers = [("Allow", ALLOW), ("Supported", "timer")]
        try:
            supports = "timer" in [t.lower() for t in call.a_invite.supported]
        except GrammarError:
            supports = False
        if supports:
            # RFC 4028 section 9: a refresher the caller chose stands; otherwise we take it.
            asked = timers.requested(call.a_invite)
            refresher = asked.refresher if asked is not None and asked.refresher else "uas"
            headers += [("Session-Expires", f"{call.interval};refresher={refresher}"), ("Require", "timer")]
        return headers

    def _start_refresh(self, call: Call) -> None:
        delay = max(call.interval / 2, 0.5)
        call.handles.append(asyncio.get_running_loop().call_later(delay, self._refresh, call))

    def _refresh(self, call: Call) -> None:
        """Half an interval passed (RFC 4028 section 10): refresh both legs; a phone that does not answer is gone."""
        if call.state != "answered":
            return
        for leg in (call.a, call.b):
            if leg is None:
                continue
            if leg.allow_update:
                self._send_own(call, leg, "UPDATE", refresh=True)
            elif leg.sent_sdp and not call.reinvite:
                self._send_own(call, leg, "INVITE", body=leg.sent_sdp.encode(), refresh=True)
            else:
                self._send_own(call, leg, "OPTIONS", refresh=True)
        self._start_refresh(call)

    # -- our own requests and their responses -----------------------------------------
    def _send_own(
        self,
        call: Call,
        leg: Leg,
        method: str,
        *,
        body: bytes = b"",
        refresh: bool = False,
        moved: bool = False,
        headers: list[tuple[str, str]] | None = None,
        content_type: str = "application/sdp",
    ) -> None:
        extra = list(headers or [])
        if body:
            extra.append(("Content-Type", content_type))
        if refresh and method != "OPTIONS":
            extra += [
                ("Session-Expires", f"{call.interval};refresher={'uac' if leg.side == 'callee' else 'uas'}"),
                ("Supported", "timer"),
            ]
        request = self._request_on(leg, method, body=body, headers=extra)
        self._clients[_client_key(request)] = (call, _Own(leg, method, refresh, moved))
        self._send_request(request, leg.peer)

    async def _own_response(self, call: Call, own: _Own, resp: Response) -> None:
        if resp.status < 200:
            return
        if own.method == "INVITE" and 200 <= resp.status < 300:
            self._ack(own.leg, resp, resp.cseq.number)
            if own.answered:
                return  # a retransmitted 2xx: ACKed again, nothing else
        own.answered = True
        if own.method == "INVITE" and 200 <= resp.status < 300:
            sdp = sdp_rules.sdp_of(resp)
            other = call.b if own.leg is call.a else call.a
            if own.moved and sdp is not None and other is not None and call.state == "answered":
                # The transferee's answer to its move: where it sends and receives now, for the relay.
                own.leg.phone_sdp = sdp
                try:
                    await self.media.reoffer(
                        call.node,
                        media.OfferRequest(
                            call_id=call.media_call_id,
                            from_tag=_media_tag(own.leg),
                            to_tag=_media_tag(other),
                            sdp=sdp,
                            received_from=own.leg.peer.host,
                        ),
                    )
                except ServiceError as exc:
                    _log.warning("sip.b2bua.move_failed", call=call.id, error=str(exc))
        if not own.refresh or call.state != "answered":
            return
        if resp.status in (408, 481) or resp.status == 503 and not resp.headers.get("Retry-After"):
            # RFC 4028 section 10: no answer to a refresh; the session is over for both phones.
            _log.info("sip.b2bua.session_expired", call=call.id, leg=own.leg.side, status=resp.status)
            for leg in (call.a, call.b):  # the silent phone too: it may only have lost the dialog
                if leg is not None:
                    self._send_own(call, leg, "BYE", headers=[("Reason", 'SIP;cause=408;text="Session expired"')])
            self._end(call, status=200, ended_by="timeout", disconnected_by="system")
        elif resp.status in (405, 501) and own.method == "UPDATE":
            own.leg.allow_update = False  # refresh with re-INVITE from now on

    async def _response(self, call: Call, what: Any, key: TransactionKey, resp: Response) -> None:
        if isinstance(what, Branch):
            await self._branch_response(call, what, resp)
        elif isinstance(what, Relay):
            await self._relay_response(call, what, resp)
        elif isinstance(what, _Xfer):
            await self._transfer_response(call, what, key, resp)
        elif isinstance(what, _Own):
            await self._own_response(call, what, resp)

    async def _locked(self, call: Call, work: Any) -> None:
        async with call.lock:
            await work

    # -- the end -------------------------------------------------------------------------
    def _end(self, call: Call, *, status: int, ended_by: str, disconnected_by: str) -> None:
        if call.state == "ended":
            return
        call.state = "ended"
        for handle in call.handles:
            handle.cancel()
        call.handles.clear()
        self.calls.pop(call.id, None)
        self._by_invite.pop(call.a_key, None)
        metrics.ANCHORED_CALLS.set(len(self.calls))
        metrics.CALLS_ENDED.labels(disconnected_by).inc()
        task = asyncio.get_running_loop().create_task(self._finish(call, status, ended_by, disconnected_by))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        _log.info("sip.b2bua.ended", call=call.id, status=status, ended_by=ended_by, disconnected_by=disconnected_by)

    async def _finish(self, call: Call, status: int, ended_by: str, disconnected_by: str) -> None:
        stats: list[media.LegStats] = list(call.media_stats)
        try:
            reply = await self.media.delete(call.node, media.SessionRef(call_id=call.media_call_id))
            stats += reply.stats.legs
        except ServiceError as exc:
            # The node's inactivity reaper frees the ports; the record goes out without statistics.
            _log.warning("sip.b2bua.delete_failed", call=call.id, node=call.node, error=str(exc))
        # Our own requests of this call (BYEs) may still be answered: forget them after a while.
        asyncio.get_running_loop().call_later(64 * self.core.config.t1, self._forget, call)
        await self.core.cdr.publish(
            contract.CallEnded(
                **self._cdr_fields(call),
                answered_at=call.answered_at,
                ended_at=datetime.now(UTC),
                status=status,
                ended_by=ended_by,
                disconnected_by=disconnected_by,
                media=stats,
            )
        )

    async def _delete_quietly(self, node: str, media_call_id: str, keep: Call | None = None) -> None:
        """Delete a relay session the call no longer uses; its counters go into the call's record."""
        try:
            reply = await self.media.delete(node, media.SessionRef(call_id=media_call_id))
        except ServiceError as exc:
            _log.warning("sip.b2bua.delete_failed", node=node, media_call_id=media_call_id, error=str(exc))
            return
        if keep is not None:
            keep.media_stats += reply.stats.legs

    def _forget(self, call: Call) -> None:
        for key in [k for k, (c, _) in self._clients.items() if c is call]:
            del self._clients[key]

    # -- helpers -----------------------------------------------------------------------
    async def _answer(self, call: Call, sdp: str, source: str) -> str:
        reply = await self.media.answer(
            call.node,
            media.AnswerRequest(
                call_id=call.media_call_id,
                from_tag=call.a.remote_tag,
                to_tag=parse_name_addr(call.b_from).tag or "",
                sdp=sdp,
                received_from=source,
            ),
        )
        return reply.sdp

    def _respond_a(
        self,
        call: Call,
        status: int,
        reason: str | None = None,
        *,
        body: str | None = None,
        headers: list[tuple[str, str]] | tuple[()] = (),
    ) -> None:
        reply = response(call.a_invite, status, reason, to_tag=call.a.local_tag)
        if status < 300:
            reply.headers.add("Contact", f"<{call.a.contact}>")
            for value in call.a.routes:  # RFC 3261 12.1.1: the caller's proxies stay on its route
                reply.headers.add("Record-Route", value)
        for name, value in headers:
            reply.headers.add(name, value)
        if body:
            call.a.sent_sdp = body
            reply.set_body(body.encode(), "application/sdp")
        self._send_response(call.a_key, reply)
        if 200 <= status < 300 and not call.a.peer.reliable:
            self._retransmit_2xx(call, reply, self.core.config.t1)

    def _retransmit_2xx(self, call: Call, reply: Response, delay: float) -> None:
        """RFC 3261 section 13.3.1.4: over UDP the UAS core repeats its 2xx until the ACK comes."""

        def again() -> None:
            if call.acked or call.state == "ended":
                return
            try:
                self.core._act(self.core.layer.send_response(call.a_key, reply, now=self.core.now()))
            except LocalProtocolError:
                # Timer L ended the transaction without an ACK (64*T1): the caller is gone.
                if call.state == "answered" and not call.acked and call.b is not None:
                    self._send_own(call, call.b, "BYE")
                    self._end(call, status=200, ended_by="timeout", disconnected_by="system")
                return
            self._retransmit_2xx(call, reply, min(delay * 2, 4.0))

        call.handles.append(asyncio.get_running_loop().call_later(delay, again))

    def _reply(
        self,
        key: TransactionKey,
        request: Request,
        status: int,
        headers: list[tuple[str, str]] | tuple[()] = (),
        *,
        reason: str | None = None,
    ) -> None:
        self.core._reply(key, request, status, reason, list(headers))

    def _send_response(self, key: TransactionKey, reply: Response) -> None:
        with contextlib.suppress(LocalProtocolError):
            self.core._act(self.core.layer.send_response(key, reply, now=self.core.now()))

    def _send_request(self, request: Request, peer: Peer) -> None:
        self.core._act(self.core.layer.send_request(request, now=self.core.now(), peer=peer, reliable=peer.reliable))

    def _request_on(
        self, leg: Leg, method: str, *, body: bytes = b"", headers: list[tuple[str, str]] | None = None
    ) -> Request:
        leg.cseq += 1
        request = new_request(
            method,
            leg.target,
            via=self._via(leg.peer),
            from_=parse_name_addr(leg.local),
            to=parse_name_addr(leg.remote),
            call_id=leg.call_id,
            cseq=leg.cseq,
            contact=parse_name_addr(f"<{leg.contact}>") if method != "BYE" else None,
        )
        for value in leg.routes:
            request.headers.add("Route", value)
        for name, value in headers or []:
            if name != "Content-Type":
                request.headers.add(name, value)
        content_type = next((v for n, v in headers or [] if n == "Content-Type"), None)
        if body or content_type:
            request.set_body(body, content_type)
        return request

    def _ack(self, leg: Leg, resp: Response, cseq: int) -> None:
        """Section 13.2.2.4: the ACK for a 2xx is sent by the UAC core, straight to the peer."""
        ack = new_request(
            "ACK",
            leg.target,
            via=self._via(leg.peer),
            from_=parse_name_addr(leg.local),
            to=parse_name_addr(resp.headers.get("To") or leg.remote),
            call_id=leg.call_id,
            cseq=cseq,
        )
        for value in leg.routes:
            ack.headers.add("Route", value)
        self.core._send(ack.to_bytes(), leg.peer)

    def _via(self, peer: Peer) -> Via:
        return Via(
            peer.transport,
            self.core.config.host,
            self.core._port(peer.transport),
            (("branch", routing.new_branch()), ("rport", None)),
        )

    def _contact(self, call_id: str, peer: Peer) -> str:
        uri = routing.sip_uri(
            self.core.config.host,
            self.core._port(peer.transport),
            user=f"{CONTACT_PREFIX}{call_id}",
            transport=peer.transport,
        )
        return str(uri)

    def _cdr_fields(self, call: Call) -> dict[str, Any]:
        return {
            "call_id": call.a_invite.call_id,
            "from_uri": str(call.a_invite.from_.uri),
            "to_uri": str(call.a_invite.to.uri),
            "caller": call.caller,
            "callee": call.callee,
            "started_at": call.started_at,
            "node": self.core.config.node,
            "leg": "a",
        }

    def _publish(self, event: contract.CallEvent) -> None:
        self.core._spawn(self.core.cdr.publish(event))

    async def close(self) -> None:
        """Shutdown: hang up every call so no phone and no record is left behind."""
        for call in list(self.calls.values()):
            if call.state == "calling":
                self._cancel_branches(call)
                self._respond_a(call, 503)
            else:
                for leg in (call.a, call.b):
                    if leg is not None:
                        self._send_own(call, leg, "BYE")
            self._end(call, status=503 if call.state == "calling" else 200, ended_by="error", disconnected_by="system")
        if self._finishing:
            await asyncio.wait(set(self._finishing), timeout=3)


@dataclass
class _Own:
    leg: Leg
    method: str
    refresh: bool
    moved: bool = False
    answered: bool = False


@dataclass
class _Xfer:
    call: Call
    transfer: Transfer
    call_id: str
    local: str
    remote: str
    offer: str
    media_call_id: str
    node: str
    branches: dict[TransactionKey, Branch] = field(default_factory=dict)
    finals: list[Response] = field(default_factory=list)
    done: bool = False
    answered_tags: set[str] = field(default_factory=set)
    legs: dict[str, Leg] = field(default_factory=dict)


_GONE: Any = object()  # a B2BUA Contact whose call is not (or no longer) here: 481


def _media_tag(leg: Leg) -> str:
    """The tag that names a leg's side in the relay session.

    The caller's side is the caller's From tag. A side the B2BUA calls out to is
    named by the B2BUA's own From tag on that leg: it is the same for every fork
    branch, so early media from one branch and the answer from another name one
    side (the relay fixes a session's sides by tag).
    """
    return leg.media_tag or leg.local_tag


def _renamed(new: Leg, old: Leg) -> Leg:
    new.side = old.side
    return new


def _allows(message: Request | Response, method: str) -> bool:
    try:
        return method in [m.upper() for m in message.allow]
    except GrammarError:
        return False


def _client_key(request: Request) -> TransactionKey:
    top = request.top_via
    assert top is not None and top.branch
    return ("client", top.branch.lower(), request.method)


def _synthetic_status(status: int) -> Response:
    return Response(status=status, reason="Request Timeout" if status == 408 else "Service Unavailable")


def _quote(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")[:200]
