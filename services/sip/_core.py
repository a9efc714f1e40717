"""The transaction user: registrar, stateful forking proxy and IM handling (RFC 3261 sections 10, 16; RFC 3428).

How this works
--------------
The transport hands every datagram or framed message to `receive`, which
parses it (answering what does not parse, RFC 4475), stamps received/rport
on requests (RFC 3581) and feeds the transaction layer. The layer's events
come back through `_act`: `Transmit` goes to the transport, the rest here.
Layer timers run on the event loop clock (`_schedule`).

A new request becomes a task (`_handle_request`) because it may ask the
directory or JetStream. Requests whose top Route names us lose that Route
(16.4); whatever still carries a Route, or a To tag (in-dialog), goes on
to its next hop unchanged. Otherwise the Request-URI decides: a user of one
of our domains is looked up in `sip_locations` and the request forks to the
contacts (`_Fork`), a REGISTER for our domain goes to the registrar, and a
target in another domain is reached only by an authenticated local user
(407), through a static route when one is set.

A `_Fork` is the response context of section 16.7: its branches are client
transactions keyed by their branch; provisional responses and 2xx go
upstream at once, other finals are kept until every branch has answered
(or a 2xx or 6xx ends the search), then the best one goes upstream. The
q-value groups are tried in order (serial forking). A fork without an
upstream (a stored IM delivered on registration) resolves a future instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from libs.contracts import sip as contract
from libs.contracts.directory import ResolveStatus
from libs.contracts.errors import ServiceError
from libs.log import get_logger
from services.sip import _forwarding as forwarding
from services.sip import _metrics as metrics
from services.sip import _routing as routing
from services.sip._b2bua import Target
from services.sip._forwarding import ForwardRules
from services.sip._ratelimit import ClientRateLimiter
from services.sip._registrar import RegisterRefused, RegistrarPolicy, apply_register, contact_headers, live
from services.sip._stores import CallRecords, LocationStore, PendingMessages
from services.sip.policy import AuthStatus, DigestAuth, Directory
from services.sip.protocol import (
    AckReceived,
    GrammarError,
    LocalProtocolError,
    ParseError,
    Request,
    RequestReceived,
    Response,
    ResponseReceived,
    SipUri,
    StrayResponse,
    TimerConfig,
    TransactionKey,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
    Uri,
    Via,
    cancel_for,
    error_response,
    parse_message,
    parse_uri,
    response,
    response_destination,
)
from services.sip.protocol.limits import Limits
from services.sip.transport import Peer, parse_peer

_log = get_logger()

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, INFO, UPDATE, REFER, PRACK, NOTIFY, SUBSCRIBE, PUBLISH"
PRESENCE_METHODS = ("SUBSCRIBE", "PUBLISH")
DIALOG_FORMING = ("INVITE",)


@dataclass
class CoreConfig:
    host: str  # advertised in Via and Record-Route
    ports: dict[str, int]  # transport -> our port
    local_addresses: set[str]  # hosts (lower case, no brackets) that are us
    node: str
    registrar: RegistrarPolicy
    invite_timeout: float = 180.0
    static_routes: dict[str, str] = field(default_factory=dict)
    require_auth_local_callers: bool = False
    t1: float = 0.5
    limits: Limits = field(default_factory=Limits)
    client_rate: float = 0.0
    client_burst: float = 1.0


@dataclass
class _Branch:
    key: TransactionKey
    request: Request
    peer: Peer
    provisional: bool = False
    done: bool = False
    cancel_pending: bool = False
    timer_c: asyncio.TimerHandle | None = None


@dataclass
class _Fork:
    upstream: TransactionKey | None
    request: Request  # as received, after route processing
    groups: list[list[contract.Binding]]
    callee: str | None = None
    caller: str | None = None
    branches: dict[TransactionKey, _Branch] = field(default_factory=dict)
    finals: list[Response] = field(default_factory=list)
    answered: bool = False
    final_sent: bool = False
    cancelled: bool = False
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    result: asyncio.Future[int] | None = None
    record_route: bool = False
    forward: ForwardRules | None = None  # the current callee's forwarding rules (INVITE only)
    visited: set[str] = field(default_factory=set)  # callees tried so far: forwarding never loops back
    hops: int = 0
    no_answer_timer: asyncio.TimerHandle | None = None


@dataclass
class _Call:
    from_uri: str
    to_uri: str
    caller: str | None
    callee: str | None
    started_at: datetime
    answered_at: datetime | None = None


class SipCore:
    def __init__(self, config: CoreConfig, *, send: Callable[[bytes, Peer], None], directory: Directory,
                 auth: DigestAuth, locations: LocationStore, pending: PendingMessages, cdr: CallRecords,
                 publish_im: Callable[[contract.InstantMessage], Any]) -> None:  # fmt: skip
        self.config = config
        self._send = send
        self.directory = directory
        self.auth = auth
        self.locations = locations
        self.pending = pending
        self.cdr = cdr
        self.publish_im = publish_im
        self.presence: Any = None  # the notifier (_presence.PresenceServer), attached by main
        self.forwarding: Any = None  # per-account forwarding rules (_forwarding.SettingsCache), attached by main
        self.layer = TransactionLayer(TimerConfig(t1=config.t1), auto_trying=True)
        self.limiter = ClientRateLimiter(rate=config.client_rate, burst=config.client_burst)
        self._forks: dict[TransactionKey, _Fork] = {}  # by upstream server key
        self._branches: dict[TransactionKey, tuple[_Fork, _Branch]] = {}  # by client key
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.b2bua: Any = None  # services.sip._b2bua.B2bua when calls are anchored in the media relay
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.own_sent_by = {f"{h}:{p}".lower() for h in config.local_addresses | {config.host.lower()}
                            for p in config.ports.values()}  # fmt: skip
        self.own_sent_by |= {f"[{h}]:{p}".lower() for h in config.local_addresses for p in config.ports.values()}

    # -- input ---------------------------------------------------------------------
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def receive(self, data: bytes, peer: Peer) -> None:
        try:
            message = parse_message(data, self.config.limits)
        except ParseError as error:
            metrics.MALFORMED.inc()
            reply = error_response(error, to_tag=routing.secrets.token_hex(6))
            if reply is not None:
                self._send(reply, peer)
            return
        if isinstance(message, Request):
            top = message.top_via
            assert top is not None
            stamped = top.received_params(peer.host, peer.port)  # RFC 3261 18.2.1, RFC 3581
            if stamped is not top:
                message.headers.replace_first_value("Via", str(stamped))
            reply_to = peer if peer.reliable else Peer("UDP", *response_destination(stamped))
            self._act(self.layer.receive(message, now=self.now(), peer=reply_to, reliable=peer.reliable))
        else:
            self._act(self.layer.receive(message, now=self.now(), peer=peer, reliable=peer.reliable))

    def _act(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, Transmit):
                self._send(event.data, event.peer)
                if isinstance(event.message, Response) and not event.retransmission and event.message.status >= 200:
                    metrics.RESPONSES.labels(f"{event.message.status // 100}xx").inc()
            elif isinstance(event, RequestReceived):
                metrics.REQUESTS.labels(event.request.method).inc()
                if event.request.method != "CANCEL" and not self.limiter.allow(event.peer.host, self.now()):
                    metrics.RATE_LIMITED.inc()
                    self._reply(event.key, event.request, 503, "Service Unavailable (too many requests)",
                                [("Retry-After", "5")])  # fmt: skip
                    continue
                self._spawn(self._handle_request(event.key, event.request, event.peer, event.invite_key))
            elif isinstance(event, ResponseReceived):
                self._on_response(event.key, event.response)
            elif isinstance(event, AckReceived):
                self._spawn(self._forward_ack(event.request))
            elif isinstance(event, StrayResponse):
                self._forward_stray(event.response)
            elif isinstance(event, TransactionTimedOut | TransportFailed):
                self._on_branch_failure(event.key, 408 if isinstance(event, TransactionTimedOut) else 503)
            elif isinstance(event, TransactionTerminated):
                self._branches.pop(event.key, None)
                self._forks.pop(event.key, None)
        self._schedule()
        metrics.TRANSACTIONS.set(len(self.layer))
        metrics.FORKS.set(len(self._forks))

    def _schedule(self) -> None:
        deadline = self.layer.next_deadline()
        if deadline is None or deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = asyncio.get_running_loop().call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self._act(self.layer.advance(self.now()))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("sip.task.failed", error=repr(task.exception()))

    def _reply(self, key: TransactionKey, request: Request, status: int, reason: str | None = None,
               headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = ()) -> None:  # fmt: skip
        reply = response(request, status, reason, to_tag=routing.secrets.token_hex(6))
        for name, value in headers:
            reply.headers.add(name, value)
        try:
            self._act(self.layer.send_response(key, reply, now=self.now()))
        except LocalProtocolError:
            pass  # the transaction already has its final response (a CANCEL raced us)

    # -- requests ------------------------------------------------------------------
    async def _handle_request(self, key: TransactionKey, request: Request, peer: Peer,
                              invite_key: TransactionKey | None) -> None:  # fmt: skip
        try:
            await self._dispatch(key, request, peer, invite_key)
        except GrammarError as exc:
            self._reply(key, request, 400, f"Bad Request ({exc})")
        except ServiceError as exc:
            _log.warning("sip.request.unavailable", method=request.method, call_id=request.call_id, error=str(exc))
            self._reply(key, request, 500, "Service Unavailable", [("Retry-After", "5")])
        except Exception:
            _log.exception("sip.request.failed", method=request.method, call_id=request.call_id)
            self._reply(key, request, 500)

    async def _dispatch(self, key: TransactionKey, request: Request, peer: Peer,
                        invite_key: TransactionKey | None) -> None:  # fmt: skip
        if request.method == "CANCEL":
            return self._handle_cancel(key, request, invite_key)
        refusal = routing.check_request(request, self.own_sent_by)
        if refusal is not None:
            return self._reply(key, request, refusal.status, refusal.reason, refusal.headers)
        if not isinstance(request.uri, SipUri):
            return self._reply(key, request, 416)
        ours = routing.pop_own_route(request, self._is_us)
        if self.b2bua is not None and self.b2bua.owns(request) is not None:
            return await self.b2bua.in_dialog(key, request, peer)  # one of our anchored calls
        if request.method in PRESENCE_METHODS and not request.routes and self.presence is not None:
            if await self.presence.handle(key, request, peer):
                return None
        if request.to.tag is not None:
            # In-dialog: we are on the path only if we Record-Routed the dialog, so its
            # first Route named us. Anything else is not ours to relay.
            if not ours:
                return self._reply(key, request, 404 if request.method != "INVITE" else 403, "Not Here")
            if request.routes:
                return await self._forward_to_route(key, request, peer)
            return await self._forward_in_dialog(key, request)
        if request.routes:
            # A pre-loaded route to elsewhere: as for any other domain, only for our own
            # authenticated users (no relaying for strangers).
            if request.method == "REGISTER" and not ours:
                return self._reply(key, request, 403, "Forbidden (not our registrar)")
            if await self._outbound_allowed(key, request, peer) is None:
                return None
            return await self._forward_to_route(key, request, peer)
        uri = request.uri
        if request.method in PRESENCE_METHODS:
            return self._reply(key, request, 489, "Bad Event", [("Allow-Events", "")])
        if uri.user is None:
            if request.method == "REGISTER":
                return await self._handle_register(key, request, peer)
            if request.method == "OPTIONS":
                return self._reply(key, request, 200, None, [("Allow", ALLOW), ("Accept", "application/sdp")])
            return self._reply(key, request, 404 if not self._is_us(uri) else 405, None, [("Allow", ALLOW)])
        if request.method == "REGISTER":
            return await self._handle_register(key, request, peer)
        await self._route_to_user(key, request, peer)

    # -- registrar (RFC 3261 section 10.3) --------------------------------------
    async def _handle_register(self, key: TransactionKey, request: Request, peer: Peer) -> None:
        to_uri = request.to.uri
        if not isinstance(to_uri, SipUri) or to_uri.user is None:
            return self._reply(key, request, 404, "Not Found (no user in To)")
        domain = _host(to_uri)
        address = f"{to_uri.user_unescaped}@{domain}"
        resolved = await self.directory.resolve(address)
        if resolved.status is ResolveStatus.REMOTE:
            return self._reply(key, request, 403, "Forbidden (not our domain)")
        realm = resolved.address.rpartition("@")[2] or domain
        outcome = await self.auth.check(request, realm=realm, proxy=False, client=peer.host, now=time.time())
        if outcome.status is not AuthStatus.OK:
            metrics.REGISTRATIONS.labels("forbidden" if outcome.status is AuthStatus.FORBIDDEN else "challenged").inc()
            return self._refuse_auth(key, request, outcome.status, realm, proxy=False)
        if resolved.status is not ResolveStatus.LOCAL or outcome.account not in resolved.accounts:
            # An account may register only its own address (or an alias that is only it).
            return self._reply(key, request, 403, "Forbidden (not your address)")
        account = outcome.account
        assert account is not None
        now = time.time()
        reachable_before: list[bool] = []  # a live binding before this REGISTER (presence wants the flips)
        result = await self.locations.change(
            account,
            lambda bindings: reachable_before.append(any(b.expires_at > now for b in bindings)) or apply_register(
                request, bindings, now=now, policy=self.config.registrar, source=peer.text(), node=self.config.node),
        )  # fmt: skip
        if isinstance(result, RegisterRefused):
            metrics.REGISTRATIONS.labels("error").inc()
            return self._reply(key, request, result.status, result.reason, result.headers)
        headers = [("Contact", c) for c in contact_headers(result.bindings, now)]
        if request.path:
            headers += [("Path", str(p)) for p in request.path]
        headers.append(("Date", datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")))
        self._reply(key, request, 200, None, headers)
        metrics.REGISTRATIONS.labels("ok").inc()
        _log.info("sip.register.accepted", account=account, bindings=len(result.bindings), peer=peer.text())
        if result.changed and result.bindings:
            self._spawn(self._deliver_pending(account))
        if result.changed and self.presence is not None:
            flipped = bool(reachable_before) and reachable_before[-1] != bool(result.bindings)
            self._spawn(self.presence.registered(account, reachable_changed=flipped))

    def _refuse_auth(self, key: TransactionKey, request: Request, status: AuthStatus, realm: str, *,
                     proxy: bool) -> None:  # fmt: skip
        if status is AuthStatus.FORBIDDEN:
            return self._reply(key, request, 403, "Forbidden")
        if status is AuthStatus.UNAVAILABLE:
            return self._reply(key, request, 500, "Service Unavailable", [("Retry-After", "5")])
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        stale = status is AuthStatus.STALE
        headers = [(name, str(c)) for c in self.auth.challenges(realm, time.time(), stale=stale)]
        self._reply(key, request, 407 if proxy else 401, None, headers)

    # -- routing ------------------------------------------------------------------
    async def _route_to_user(self, key: TransactionKey, request: Request, peer: Peer) -> None:
        uri = request.uri
        assert isinstance(uri, SipUri) and uri.user is not None
        host = _host(uri)
        target_local = False
        accounts: list[str] = []
        canonical = ""
        if not _is_ip(host):
            resolved = await self.directory.resolve(f"{uri.user_unescaped}@{host}")
            if resolved.status in (ResolveStatus.UNKNOWN, ResolveStatus.INVALID):
                return self._reply(key, request, 404)
            target_local = resolved.status is ResolveStatus.LOCAL
            accounts, canonical = resolved.accounts, resolved.address
        elif self._is_us(uri):
            return self._reply(key, request, 404)
        caller = None
        if not target_local:
            if (caller := await self._outbound_allowed(key, request, peer)) is None:
                return None
        elif self.config.require_auth_local_callers and request.method in ("INVITE", "MESSAGE"):
            # Only callers claiming one of our domains can prove who they are; outsiders pass.
            if (await self._from_is_local(request))[0] and (caller := await self._outbound_allowed(
                    key, request, peer)) is None:  # fmt: skip
                return None
        if not target_local:
            return await self._forward_remote(key, request, caller)
        now = time.time()
        bindings: list[contract.Binding] = []
        for account in accounts:
            bindings += await self.locations.bindings(account, now)
        callee = accounts[0] if accounts else canonical
        if request.method == "MESSAGE":
            await self._publish_im(request, accounts)
            if not bindings:
                for account in accounts:
                    await self.pending.keep(account, request.to_bytes())
                    metrics.IM_STORED.inc()
                return self._reply(key, request, 202, "Accepted (stored for delivery)")
        rules = None
        if request.method == "INVITE" and self.forwarding is not None:
            rules = await self.forwarding.rules(callee)
        if not bindings and (rules is None or (rules.always is None and rules.no_answer is None)):
            return self._reply(key, request, 480)
        forwarded = rules is not None and (rules.always or rules.busy or rules.no_answer) is not None
        if request.method == "INVITE" and self.b2bua is not None and bindings and not forwarded:
            # A callee with forwarding rules is proxied: the rules act on the fork's outcome.
            targets = await self.b2bua_targets(bindings)
            if await self.b2bua.start(key, request, peer, targets, caller=caller, callee=callee):
                return None
        fork = _Fork(upstream=key, request=request, groups=routing.target_groups(bindings), callee=callee,
                     caller=caller, record_route=request.method in DIALOG_FORMING, forward=rules,
                     visited={callee.lower()})  # fmt: skip
        self._forks[key] = fork
        if request.method == "INVITE":
            self._call_attempted(request, caller, callee)
        if (
            rules is not None
            and rules.always is not None
            and await forwarding.divert(self, fork, "always", rules.always)
        ):
            return None
        if not bindings:
            # Nobody registered: the callee does not answer.
            if (
                rules is None
                or rules.no_answer is None
                or not await forwarding.divert(self, fork, "no_answer", rules.no_answer)
            ):
                fork.final_sent = True
                self._reply(key, request, 480)
                self._call_failed(fork, 480)
            return None
        await self._next_group(fork)
        forwarding.start_no_answer(self, fork)

    async def _outbound_allowed(self, key: TransactionKey, request: Request, peer: Peer) -> str | None:
        """The authenticated local account sending `request`, or None after answering it (403/407).

        Requests from our domains must carry Proxy-Authorization for the From's domain
        (RFC 3261 section 22.3); requests from elsewhere are refused (no open relay)."""
        from_local, from_realm = await self._from_is_local(request)
        if not from_local:
            self._reply(key, request, 403, "Forbidden (relaying denied)")
            return None
        outcome = await self.auth.check(request, realm=from_realm, proxy=True, client=peer.host, now=time.time())
        if outcome.status is not AuthStatus.OK:
            self._refuse_auth(key, request, outcome.status, from_realm, proxy=True)
            return None
        request.headers.remove("Proxy-Authorization")  # the credentials were for us (section 22.3)
        return outcome.account

    async def _from_is_local(self, request: Request) -> tuple[bool, str]:
        uri = request.from_.uri
        if not isinstance(uri, SipUri) or uri.user is None or _is_ip(_host(uri)):
            return False, ""
        resolved = await self.directory.resolve(f"{uri.user_unescaped}@{_host(uri)}")
        if resolved.status in (ResolveStatus.LOCAL, ResolveStatus.UNKNOWN):
            return True, resolved.address.rpartition("@")[2] or _host(uri)
        return False, ""

    async def _forward_remote(self, key: TransactionKey, request: Request, caller: str | None) -> None:
        uri = request.uri
        assert isinstance(uri, SipUri)
        route = self.config.static_routes.get(_host(uri)) or self.config.static_routes.get("*")
        hop = parse_uri(route) if route else uri
        peer = await self._peer_for(hop)
        if peer is None:
            return self._reply(key, request, 404, "Not Found (no route to the domain)")
        if route and request.method == "INVITE" and self.b2bua is not None:
            if await self.b2bua.start(key, request, peer, [Target(uri, peer)], caller=caller, callee=None):
                return None  # a call to the gateway, anchored
        fork = _Fork(upstream=key, request=request, groups=[], caller=caller,
                     record_route=request.method in DIALOG_FORMING)  # fmt: skip
        self._forks[key] = fork
        if request.method == "INVITE":
            self._call_attempted(request, caller, None)
        self._start_branch(fork, target=None, peer=peer)

    async def _forward_to_route(self, key: TransactionKey, request: Request, peer: Peer) -> None:
        hop = request.routes[0].uri
        target = await self._peer_for(hop)
        if target is None:
            return self._reply(key, request, 404, "Not Found (bad Route)")
        self._forward_one(key, request, target)

    async def _forward_in_dialog(self, key: TransactionKey, request: Request) -> None:
        target = await self._peer_for(request.uri)
        if target is None or self._is_us(request.uri):
            return self._reply(key, request, 481 if request.method != "INVITE" else 404)
        self._forward_one(key, request, target)

    def _forward_one(self, key: TransactionKey, request: Request, target: Peer) -> None:
        fork = _Fork(upstream=key, request=request, groups=[])
        self._forks[key] = fork
        if request.method == "BYE":
            self._call_ended_by_bye(request)
        self._start_branch(fork, target=None, peer=target)

    async def _next_group(self, fork: _Fork) -> bool:
        while fork.groups:
            group = fork.groups.pop(0)
            started = False
            for binding in group:
                try:
                    target = parse_uri(binding.contact)
                except GrammarError:
                    continue
                peer = _flow(binding, target)
                route: list[str] = list(binding.path)
                if route:
                    peer = await self._peer_for(parse_uri(route[0].strip("<>").split(">")[0]))
                if peer is None:
                    peer = await self._peer_for(target)
                if peer is None:
                    continue
                self._start_branch(fork, target=target, peer=peer, route=route)
                started = True
            if started:
                return True
        return False

    async def b2bua_targets(self, bindings: list[contract.Binding]) -> list[Target]:
        """Where the B2BUA's INVITEs go: each binding's URI and flow, as `_next_group` forks them, all at once."""
        targets: list[Target] = []
        for binding in bindings:
            try:
                uri = parse_uri(binding.contact)
            except GrammarError:
                continue
            peer = _flow(binding, uri)
            route = list(binding.path)
            if route:
                peer = await self._peer_for(parse_uri(route[0].strip("<>").split(">")[0]))
            if peer is None:
                peer = await self._peer_for(uri)
            if peer is not None:
                targets.append(Target(uri, peer, route))
        return targets

    def _start_branch(self, fork: _Fork, *, target: Uri | None, peer: Peer, route: list[str] | None = None) -> None:
        via = Via(peer.transport, self.config.host, self._port(peer.transport),
                  (("branch", routing.new_branch(fork.request)), ("rport", None)))  # fmt: skip
        record_route = None
        if fork.record_route:
            rr = routing.sip_uri(self.config.host, self._port(peer.transport), transport=peer.transport, lr=True)
            record_route = f"<{rr}>"
        copy = routing.forward_copy(fork.request, target=target, via=via, record_route=record_route)
        for value in reversed(route or []):
            copy.headers.insert_first("Route", value)
        branch_key = ("client", via.branch.lower() if via.branch else "", copy.method)
        branch = _Branch(branch_key, copy, peer)
        fork.branches[branch_key] = branch
        self._branches[branch_key] = (fork, branch)
        if copy.method == "INVITE":
            branch.timer_c = asyncio.get_running_loop().call_later(
                self.config.invite_timeout, self._timer_c, branch_key
            )
        self._act(self.layer.send_request(copy, now=self.now(), peer=peer, reliable=peer.reliable))

    def _timer_c(self, branch_key: TransactionKey) -> None:
        """Section 16.8: a branch that rang too long is cancelled and counts as 408."""
        found = self._branches.get(branch_key)
        if found is None or found[1].done:
            return
        fork, branch = found
        self._cancel_branch(branch)
        self._branch_final(fork, branch, _synthetic(branch.request, 408))

    # -- responses ---------------------------------------------------------------
    def _on_response(self, key: TransactionKey, resp: Response) -> None:
        if self.b2bua is not None and self.b2bua.on_response(key, resp):
            return
        found = self._branches.get(key)
        if found is None:
            if self.presence is not None:
                self.presence.on_response(key, resp)  # a NOTIFY of ours
            return
        fork, branch = found
        if resp.status < 200:
            if resp.status == 100:
                branch.provisional = True
            else:
                branch.provisional = True
                if fork.upstream is not None and not fork.final_sent:
                    self._send_upstream(fork, resp)
            if branch.cancel_pending:
                branch.cancel_pending = False
                self._cancel_branch(branch)
            return
        if 200 <= resp.status < 300:
            first = not fork.answered
            fork.answered = True
            if not branch.done:
                branch.done = True
                self._stop_timer_c(branch)
            self._send_upstream(fork, resp)  # every 2xx goes upstream (16.7 step 5)
            if first:
                if fork.request.method == "INVITE":
                    self._call_answered(fork, resp.status)
                    for other in fork.branches.values():
                        if other is not branch and not other.done:
                            self._cancel_branch(other)
                fork.final_sent = True
                if fork.result is not None and not fork.result.done():
                    fork.result.set_result(resp.status)
            return
        if branch.done:
            return
        self._branch_final(fork, branch, resp)

    def _branch_final(self, fork: _Fork, branch: _Branch, resp: Response) -> None:
        branch.done = True
        self._stop_timer_c(branch)
        if 300 <= resp.status < 400 and not fork.final_sent:
            self._spawn(self._recurse(fork, resp))
        fork.finals.append(resp)
        if 600 <= resp.status < 700 and fork.request.method == "INVITE":
            fork.groups.clear()  # 16.7 step 5: a 6xx ends the search
            for other in fork.branches.values():
                if not other.done:
                    self._cancel_branch(other)
        if all(b.done for b in fork.branches.values()):
            self._spawn(self._after_branches(fork))

    async def _recurse(self, fork: _Fork, resp: Response) -> None:
        """Section 16.7 step 4: contacts of a 3xx in our domains are tried; others go upstream in the 3xx."""
        try:
            contacts = resp.contacts
        except GrammarError:
            return
        for contact in contacts[:5]:
            uri = contact.uri
            if not isinstance(uri, SipUri) or uri.user is None or _is_ip(_host(uri)):
                continue
            resolved = await self.directory.resolve(f"{uri.user_unescaped}@{_host(uri)}")
            if resolved.status is not ResolveStatus.LOCAL:
                continue
            bindings: list[contract.Binding] = []
            for account in resolved.accounts:
                bindings += await self.locations.bindings(account, time.time())
            if bindings:
                fork.groups.insert(0, bindings)

    async def _after_branches(self, fork: _Fork) -> None:
        await asyncio.sleep(0)  # let a 3xx recursion add its targets first
        if not all(b.done for b in fork.branches.values()):
            return
        if not fork.answered and not fork.cancelled and fork.groups and await self._next_group(fork):
            return
        if fork.answered or fork.final_sent:
            return
        best = routing.best_response(fork.finals)
        status = best.status if best is not None else 408
        rule = fork.forward.for_status(status) if fork.forward is not None and not fork.cancelled else None
        if rule is not None and await forwarding.divert(self, fork, *rule):
            return
        fork.final_sent = True
        if fork.upstream is not None:
            if best is None:
                self._reply(fork.upstream, fork.request, 408)
            else:
                self._send_upstream(fork, routing.status_for_upstream(best))
        if fork.request.method == "INVITE":
            self._call_failed(fork, status)
        if fork.result is not None and not fork.result.done():
            fork.result.set_result(status)

    def _send_upstream(self, fork: _Fork, resp: Response) -> None:
        if fork.upstream is None:
            return
        copy = parse_message(resp.to_bytes())
        assert isinstance(copy, Response)
        if not routing.strip_own_via(copy):
            return
        try:
            self._act(self.layer.send_response(fork.upstream, copy, now=self.now()))
        except LocalProtocolError:
            self._forward_stray(resp)  # the server transaction is gone: statelessly by Via (16.7 step 10)

    def _on_branch_failure(self, key: TransactionKey, status: int) -> None:
        if self.b2bua is not None and self.b2bua.on_failure(key, status):
            return
        found = self._branches.get(key)
        if found is None and self.presence is not None:
            self.presence.on_failure(key)
        if found is None or found[1].done:
            return
        fork, branch = found
        self._branch_final(fork, branch, _synthetic(branch.request, status))

    # -- CANCEL (section 16.10) ----------------------------------------------------
    def _handle_cancel(self, key: TransactionKey, request: Request, invite_key: TransactionKey | None) -> None:
        if self.b2bua is not None and self.b2bua.cancel(key, request, invite_key):
            return None
        fork = self._forks.get(invite_key) if invite_key is not None else None
        if fork is None:
            return self._reply(key, request, 481)
        self._reply(key, request, 200)
        fork.cancelled = True
        fork.groups.clear()
        for branch in fork.branches.values():
            if not branch.done:
                self._cancel_branch(branch)
        if not fork.final_sent and not fork.answered:
            fork.final_sent = True
            self._reply(invite_key, fork.request, 487)  # type: ignore[arg-type]
            self._call_failed(fork, 487, ended_by="cancel")

    def _cancel_branch(self, branch: _Branch) -> None:
        if branch.request.method != "INVITE" or branch.done:
            return
        if not branch.provisional:
            branch.cancel_pending = True  # section 9.1: not before a provisional response
            return
        cancel = cancel_for(branch.request)
        try:
            self._act(self.layer.send_request(cancel, now=self.now(), peer=branch.peer, reliable=branch.peer.reliable))
        except LocalProtocolError:
            pass

    def _stop_timer_c(self, branch: _Branch) -> None:
        if branch.timer_c is not None:
            branch.timer_c.cancel()
            branch.timer_c = None

    # -- stateless forwarding (ACK for 2xx, stray responses) -------------------------
    async def _forward_ack(self, ack: Request) -> None:
        if self.b2bua is not None and self.b2bua.owns(ack) is not None:
            return self.b2bua.on_ack(ack)
        if ack.max_forwards == 0 or routing.is_loop(ack, self.own_sent_by):
            return
        routing.pop_own_route(ack, self._is_us)
        hop = ack.routes[0].uri if ack.routes else ack.uri
        if self._is_us(hop):
            return  # an ACK for a 2xx we sent ourselves
        peer = await self._peer_for(hop)
        if peer is None:
            return
        top = ack.top_via
        stem = hashlib.sha256(((top.branch or "") if top else "").encode()).hexdigest()[:16]
        via = Via(peer.transport, self.config.host, self._port(peer.transport), (("branch", f"z9hG4bK{stem}"),))
        copy = routing.forward_copy(ack, target=None, via=via, record_route=None)
        self._send(copy.to_bytes(), peer)

    def _forward_stray(self, resp: Response) -> None:
        top = resp.top_via
        if top is None or top.sent_by.lower() not in self.own_sent_by:
            return
        copy = parse_message(resp.to_bytes())
        assert isinstance(copy, Response)
        if not routing.strip_own_via(copy):
            return
        via = copy.top_via
        assert via is not None
        host, port = response_destination(via)
        self._send(copy.to_bytes(), Peer(via.transport if via.transport in ("TCP", "TLS", "WS") else "UDP", host, port))

    # -- instant messages ----------------------------------------------------------
    async def _publish_im(self, request: Request, accounts: list[str]) -> None:
        ctype = request.content_type or "text/plain"
        try:
            body, encoding = request.body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            import base64

            body, encoding = base64.b64encode(request.body).decode(), "base64"
        for account in accounts:
            event = contract.InstantMessage(
                account=account, sender=str(request.from_.uri), recipient=str(request.to.uri), content_type=ctype,
                body=body[:65536], body_encoding=encoding, call_id=request.call_id,
            )  # fmt: skip
            try:
                await self.publish_im(event)
            except Exception as exc:  # noqa: BLE001 - the SIP delivery goes on
                _log.warning("sip.im.publish_failed", account=account, error=repr(exc))

    async def _deliver_pending(self, account: str) -> None:
        for seq, data in await self.pending.pending(account):
            try:
                stored = parse_message(data, self.config.limits)
            except ParseError:
                await self.pending.delivered(seq)
                continue
            assert isinstance(stored, Request)
            bindings = await self.locations.bindings(account, time.time())
            if not bindings:
                return
            stored.headers.remove("Via")
            stored.headers.remove("Record-Route")
            stored.headers.remove("Route")
            stored.headers.set("Max-Forwards", "70")
            stored.headers.insert_first("Via", f"SIP/2.0/UDP {self.config.host};branch=z9hG4bKstored{seq}")
            result: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            fork = _Fork(upstream=None, request=stored, groups=[bindings], result=result)
            await self._next_group(fork)
            status = await result
            if 200 <= status < 300:
                await self.pending.delivered(seq)
                metrics.IM_DELIVERED_LATER.inc()
                _log.info("sip.im.delivered_later", account=account, seq=seq)
            else:
                return

    # -- call detail records ---------------------------------------------------------
    def _call_attempted(self, request: Request, caller: str | None, callee: str | None) -> None:
        call = _Call(str(request.from_.uri), str(request.to.uri), caller, callee, datetime.now(UTC))
        self._calls[request.call_id] = call
        while len(self._calls) > 100_000:
            self._calls.popitem(last=False)
        self._spawn(self.cdr.publish(contract.CallAttempted(**self._cdr_fields(request.call_id, call))))

    def _cdr_fields(self, call_id: str, call: _Call) -> dict[str, Any]:
        return {"call_id": call_id, "from_uri": call.from_uri, "to_uri": call.to_uri, "caller": call.caller,
                "callee": call.callee, "started_at": call.started_at, "node": self.config.node}  # fmt: skip

    def _call_answered(self, fork: _Fork, status: int) -> None:
        call = self._calls.get(fork.request.call_id)
        if call is None or call.answered_at is not None:
            return
        call.answered_at = datetime.now(UTC)
        event = contract.CallAnswered(**self._cdr_fields(fork.request.call_id, call), answered_at=call.answered_at,
                                      status=status)  # fmt: skip
        self._spawn(self.cdr.publish(event))

    def _call_failed(self, fork: _Fork, status: int, ended_by: str = "error") -> None:
        call = self._calls.pop(fork.request.call_id, None)
        if call is None or call.answered_at is not None:
            return
        event = contract.CallEnded(**self._cdr_fields(fork.request.call_id, call), ended_at=datetime.now(UTC),
                                   status=status, ended_by="timeout" if status == 408 else ended_by)  # fmt: skip
        self._spawn(self.cdr.publish(event))

    def _call_ended_by_bye(self, request: Request) -> None:
        call = self._calls.pop(request.call_id, None)
        if call is None:
            return
        event = contract.CallEnded(**self._cdr_fields(request.call_id, call), answered_at=call.answered_at,
                                   ended_at=datetime.now(UTC), status=200, ended_by="bye")  # fmt: skip
        self._spawn(self.cdr.publish(event))

    # -- addresses --------------------------------------------------------------------
    def _port(self, transport: str) -> int:
        return self.config.ports.get(transport) or self.config.ports.get("UDP") or 5060

    def _is_us(self, uri: Uri) -> bool:
        if not isinstance(uri, SipUri):
            return False
        host = _host(uri)
        if host not in self.config.local_addresses and host != self.config.host.lower():
            return False
        port = uri.port or (5061 if uri.scheme == "sips" else 5060)
        return port in self.config.ports.values()

    async def _peer_for(self, uri: Uri) -> Peer | None:
        """Where to send a request for `uri` (RFC 3263 reduced to A/AAAA: no NAPTR or SRV yet)."""
        if not isinstance(uri, SipUri):
            return None
        transport = (uri.transport or ("tls" if uri.scheme == "sips" else "udp")).upper()
        if transport not in ("UDP", "TCP", "TLS", "WS"):
            return None
        host = uri.maddr or _host(uri)
        port = uri.port or (5061 if transport == "TLS" else 5060)
        if not _is_ip(host):
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=2)  # SOCK_DGRAM
            except OSError:
                return None
            if not infos:
                return None
            host = infos[0][4][0]
        return Peer(transport, host, port)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()


def _host(uri: SipUri) -> str:
    return uri.host.strip("[]").lower().rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _flow(binding: contract.Binding, contact: Uri) -> Peer | None:
    """Where a binding's phone is reached: the address its REGISTER came from when the Contact
    cannot be used as it is, else None (the Contact URI decides).

    Over TCP/TLS that is the phone's connection (RFC 5626: a phone behind NAT is
    reachable only on the flow it opened). Over UDP it is the source address when
    the Contact asks for it (`ob`, RFC 5626) or names a private address other than
    the source (the phone is behind NAT, RFC 3581's received/rport show where).
    Otherwise the Contact wins: a REGISTER may come from another port or host
    than the phone (a third-party registration).
    """
    source = parse_peer(binding.source) if binding.source else None
    if source is None or not isinstance(contact, SipUri):
        return None
    if source.transport != "UDP":
        return source
    if contact.has_param("ob"):
        return source
    host = _host(contact)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_private and not address.is_loopback and host != source.host:
        return source
    return None


def _synthetic(request: Request, status: int) -> Response:
    """A response the proxy makes up for a branch (timeout, transport error): never sent as is."""
    return response(request, status)


__all__ = ["CoreConfig", "SipCore", "live"]
