"""The notifier and event state compositor: SUBSCRIBE/NOTIFY (RFC 6665), presence (RFC 3856, PIDF RFC 3863),
PUBLISH (RFC 3903), message-summary (RFC 3842) and the reg event package (RFC 3680).

How this works in the farm
--------------------------
Published state lives in the `presence` KV bucket (`_presence_store.py`), so
every replica composes the same document for a presentity. Whoever changes
it (a PUBLISH, a removal, a registration of a presentity that publishes
nothing, a publication running out) publishes `PresenceState` on
`presence.state.changed.<account>`. Every replica listens; the one holding
subscriptions to that account reads the bucket and NOTIFYs them.

A subscription is a dialog, kept in the memory of the replica that accepted
the SUBSCRIBE: its 200 carries that replica's Contact, so refreshes come
back to it. If it dies, refreshes time out (or another replica answers 481)
and the subscriber subscribes anew (RFC 6665 section 4.1.2.2); the published
state survives in the bucket. Each replica also re-reads a watched
presentity when its next publication or registration runs out, so expiry is
noticed even when the replica that took the publication is gone.

The watched account's consent is `_watchers.decide` over its directory
settings, asked again whenever the directory says the account changed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from libs.contracts import presence as contract
from libs.contracts.directory import ResolveStatus
from libs.log import get_logger
from services.sip import _metrics as metrics
from services.sip import _pidf as pidf
from services.sip import _reginfo as reginfo
from services.sip._publications import PublishDone, PublishRefused, apply_publish
from services.sip._subscriptions import (
    PACKAGES,
    Dialog,
    Subscription,
    SubscriptionTable,
    SubState,
    TooBrief,
    grant_expires,
)
from services.sip._watchers import decide
from services.sip.policy import AuthStatus
from services.sip.protocol import (
    GrammarError,
    LocalProtocolError,
    Request,
    Response,
    SipUri,
    TransactionKey,
    client_key,
    parse_message,
    parse_uri,
    response,
)
from services.sip.transport import Peer, parse_peer

if TYPE_CHECKING:
    from services.sip._core import SipCore
    from services.sip._presence_store import PresenceStore

_log = get_logger()

ALLOW_EVENTS = ", ".join(PACKAGES)
SUMMARY_TYPE = "application/simple-message-summary"
# Responses to a NOTIFY after which the subscription is gone (RFC 6665 section 4.2.2).
_FATAL_NOTIFY = {404, 405, 408, 410, 416, 480, 481, 482, 483, 484, 485, 489, 501, 604}


@dataclass(frozen=True)
class PresencePolicy:
    min_expires: int = 60
    max_expires: int = 7200
    default_expires: int = 3600
    publish_max_expires: int = 3600
    max_subscriptions: int = 100_000


class PresenceServer:
    def __init__(self, core: SipCore, *, store: PresenceStore, policy: PresencePolicy,
                 publish_state: Callable[[contract.PresenceState], Awaitable[Any]],
                 account_settings: Callable[[str], Awaitable[dict[str, Any]]],
                 inbox_counts: Callable[[str], Awaitable[tuple[int, int] | None]]) -> None:  # fmt: skip
        self.core = core
        self.store = store
        self.policy = policy
        self.publish_state = publish_state
        self.account_settings = account_settings
        self.inbox_counts = inbox_counts
        self.table = SubscriptionTable(limit=policy.max_subscriptions)
        self._notifies: dict[TransactionKey, Subscription] = {}
        self._recheck: dict[str, float] = {}  # watched presentity -> when its state may change by itself
        self._announce: dict[str, float] = {}  # presentity changed here -> when to publish its expiry

    # -- dispatch (from the core) ---------------------------------------------------
    async def handle(self, key: TransactionKey, request: Request, peer: Peer) -> bool:
        """Serve a SUBSCRIBE or PUBLISH that is ours; False leaves it to the proxy."""
        if request.to.tag is not None:
            if request.method != "SUBSCRIBE":
                return False
            sub = self.table.get(request.call_id, request.to.tag, request.from_.tag or "")
            if sub is None:
                if not self.core._is_us(request.uri):
                    return False
                self._answer(key, request, 481, "Subscription Does Not Exist")
                return True
            await self._refresh(key, request, peer, sub)
            return True
        uri = request.uri
        if not isinstance(uri, SipUri) or uri.user is None:
            return False
        resolved = await self.core.directory.resolve(f"{uri.user_unescaped}@{uri.host.strip('[]').lower()}")
        if resolved.status is ResolveStatus.REMOTE:
            return False  # another domain's notifier: proxied like any request
        event = request.event
        if event is None and request.method == "PUBLISH":
            self._bad_event(key, request)  # RFC 3903 section 6 step 2
            return True
        if event is None:
            self._answer(key, request, 400, "Bad Request (no Event header)")
            return True
        if event.package not in PACKAGES or (request.method == "PUBLISH" and event.package != "presence"):
            self._bad_event(key, request)
            return True
        if resolved.status is not ResolveStatus.LOCAL or len(resolved.accounts) != 1:
            self._answer(key, request, 404)
            return True
        account = await self._authenticate(key, request, peer)
        if account is None:
            return True
        if request.method == "PUBLISH":
            await self._publish(key, request, resolved.accounts[0], account)
        else:
            await self._subscribe(key, request, peer, resolved.accounts[0], account)
        return True

    async def _authenticate(self, key: TransactionKey, request: Request, peer: Peer) -> str | None:
        """The watcher's or publisher's account (digest, 401 as for REGISTER); None after answering."""
        local, realm = await self.core._from_is_local(request)
        if not local:
            self._answer(key, request, 403, "Forbidden (only users of our domains may subscribe or publish)")
            return None
        outcome = await self.core.auth.check(request, realm=realm, proxy=False, client=peer.host, now=time.time())
        if outcome.status is not AuthStatus.OK or outcome.account is None:
            self.core._refuse_auth(key, request, outcome.status, realm, proxy=False)
            return None
        return outcome.account

    def _bad_event(self, key: TransactionKey, request: Request) -> None:
        allowed = "presence" if request.method == "PUBLISH" else ALLOW_EVENTS
        self._answer(key, request, 489, "Bad Event", [("Allow-Events", allowed)])

    # -- PUBLISH (RFC 3903) -----------------------------------------------------------
    async def _publish(self, key: TransactionKey, request: Request, presentity: str, account: str) -> None:
        if account != presentity:
            return self._answer(key, request, 403, "Forbidden (not your presence)")
        granted = grant_expires(request.expires, default=self.policy.publish_max_expires,
                                minimum=self.policy.min_expires, maximum=self.policy.publish_max_expires)  # fmt: skip
        if isinstance(granted, TooBrief):
            return self._answer(key, request, 423, None, [("Min-Expires", str(granted.min_expires))])
        now = time.time()
        if_match = request.headers.get("SIP-If-Match")
        result = await self.store.change(
            presentity,
            lambda publications: apply_publish(
                publications, if_match=if_match.strip() if if_match else None, body=request.body,
                content_type=request.content_type, expires=granted, now=now, new_etag=lambda: secrets.token_hex(8),
            ),
        )  # fmt: skip
        metrics.PUBLICATIONS.labels("refused" if isinstance(result, PublishRefused) else "ok").inc()
        if isinstance(result, PublishRefused):
            return self._answer(key, request, result.status, result.reason, list(result.headers))
        assert isinstance(result, PublishDone)
        headers = [("Expires", str(result.expires))]
        if result.etag is not None:
            headers.append(("SIP-ETag", result.etag))
        self._answer(key, request, 200, None, headers)  # after the KV write was acked
        _log.info("sip.presence.published", account=presentity, expires=result.expires, changed=result.changed)
        if result.changed:
            await self.announce(presentity)
        else:
            self._remember_expiry(self._announce, presentity, [p.expires_at for p in result.publications])

    async def announce(self, account: str) -> None:
        """Publish the presentity's composed state for every replica and protocol; its next expiry
        (a publication's or, with none, a registration's) is announced again then."""
        document, nxt = await self.document(account, f"sip:{account}")
        if nxt is not None:
            self._remember_expiry(self._announce, account, [nxt])
        brief = pidf.summary(document)
        state = contract.PresenceState(account=account, basic=brief.basic, note=brief.note[:1024], pidf=document)  # type: ignore[arg-type]
        try:
            await self.publish_state(state)
        except Exception as exc:  # noqa: BLE001 - watchers here are notified by the recheck anyway
            _log.warning("sip.presence.announce_failed", account=account, error=repr(exc))

    async def document(self, account: str, entity: str) -> tuple[str, float | None]:
        """The composed PIDF for `entity`, and when it may next change by itself (an expiry)."""
        now = time.time()
        publications = await self.store.publications(account, now)
        if publications:
            return pidf.compose(entity, [p.pidf for p in publications]), min(p.expires_at for p in publications)
        # Nothing published: open while a phone is registered (documented in docs/sip.md).
        bindings = await self.core.locations.bindings(account, now)
        nxt = min((b.expires_at for b in bindings), default=None)
        return pidf.basic_document(entity, open_=bool(bindings)), nxt

    async def registered(self, account: str, *, reachable_changed: bool) -> None:
        """A REGISTER changed the account's bindings. Its reg watchers here hear of it; and when it
        went from no phone to some or back, so may the state derived from registrations: announced
        unless publications decide. A mere refresh costs no read."""
        await self.on_registration_changed(account)
        if reachable_changed and not await self.store.publications(account, time.time()):
            await self.announce(account)

    # -- SUBSCRIBE (RFC 6665) -------------------------------------------------------------
    async def _subscribe(self, key: TransactionKey, request: Request, peer: Peer, resource: str,
                         watcher: str) -> None:  # fmt: skip
        event = request.event
        assert event is not None
        contacts = request.contacts
        if len(contacts) != 1:
            return self._answer(key, request, 400, "Bad Request (one Contact needed)")
        granted = grant_expires(request.expires, default=self.policy.default_expires,
                                minimum=self.policy.min_expires, maximum=self.policy.max_expires)  # fmt: skip
        if isinstance(granted, TooBrief):
            return self._answer(key, request, 423, None, [("Min-Expires", str(granted.min_expires))])
        if event.package in ("message-summary", "reg"):
            decision = "active" if watcher == resource else "rejected"
        else:
            decision = decide(watcher, resource, await self._settings(resource))
        if decision == "rejected":
            return self._answer(key, request, 403, "Forbidden (not authorised to watch)")
        if self.table.full():
            return self._answer(key, request, 503, "Service Unavailable (too many subscriptions)",
                                [("Retry-After", "60")])  # fmt: skip
        now = time.time()
        dialog = Dialog(
            call_id=request.call_id, local_tag=secrets.token_hex(6), remote_tag=request.from_.tag or "",
            local_uri=str(request.to.uri), remote_uri=str(request.from_.uri), remote_target=str(contacts[0].uri),
            route_set=[str(r) for r in request.record_routes], remote_cseq=request.cseq.number,
        )  # fmt: skip
        sub = Subscription(event.package, event.id, watcher, resource, dialog, peer.text(), now + granted,
                           SubState.ACTIVE if decision == "active" else SubState.PENDING)  # fmt: skip
        self._answer(key, request, 200, None, [("Expires", str(granted)), ("Contact", self._contact(peer)),
                                               ("Allow-Events", ALLOW_EVENTS)], to_tag=dialog.local_tag)  # fmt: skip
        _log.info("sip.subscribe.accepted", package=sub.package, watcher=watcher, resource=resource,
                  state=sub.state.value, expires=granted)  # fmt: skip
        if granted == 0:
            sub.terminate("timeout")  # a fetch (section 4.4.3): one NOTIFY with the state, then gone
        else:
            self.table.add(sub)
        await self._notify_state(sub, force=True)

    async def _refresh(self, key: TransactionKey, request: Request, peer: Peer, sub: Subscription) -> None:
        if request.cseq.number <= sub.dialog.remote_cseq:
            return self._answer(key, request, 500, "Server Internal Error (CSeq out of order)")
        event = request.event
        if event is None or event.package != sub.package or event.id != sub.event_id:
            return self._bad_event(key, request)
        granted = grant_expires(request.expires, default=self.policy.default_expires,
                                minimum=self.policy.min_expires, maximum=self.policy.max_expires)  # fmt: skip
        if isinstance(granted, TooBrief):
            return self._answer(key, request, 423, None, [("Min-Expires", str(granted.min_expires))])
        sub.dialog.remote_cseq = request.cseq.number
        sub.peer = peer.text()
        try:
            contacts = request.contacts
        except GrammarError:
            contacts = []
        if contacts:
            sub.dialog.remote_target = str(contacts[0].uri)  # a target refresh (RFC 6665 section 4.1.2.1)
        now = time.time()
        self._answer(key, request, 200, None, [("Expires", str(granted)), ("Contact", self._contact(peer))])
        if granted == 0:
            sub.terminate(None)  # the subscriber ended it: plain "terminated"
            self.table.remove(sub)
        else:
            sub.refresh(granted, now)
        await self._notify_state(sub, force=True)

    # -- state -> NOTIFY ------------------------------------------------------------------
    async def _notify_state(self, sub: Subscription, *, force: bool = False) -> None:
        """NOTIFY the subscriber of the resource's current state (unless unchanged and not forced).

        One NOTIFY at a time per dialog: a change meanwhile is queued and the state as
        it is then goes out once the outstanding NOTIFY is answered."""
        if sub.in_flight:
            sub.queued = True
            return
        sub.in_flight = True  # claimed while the state is read, so no second NOTIFY overtakes this one
        try:
            sent = await self._compose_and_send(sub, force)
        except BaseException:
            sub.in_flight = False
            raise
        if not sent:
            sub.in_flight = False
            if sub.queued:
                sub.queued = False
                self.core._spawn(self._notify_state(sub))

    async def _compose_and_send(self, sub: Subscription, force: bool) -> bool:
        body, ctype, versioned = b"", None, None
        if sub.authorised and sub.package == "presence":
            document, nxt = await self.document(sub.resource, _entity(sub.dialog.local_uri))
            body, ctype = document.encode(), pidf.CONTENT_TYPE
            if nxt is not None and sub.state is SubState.ACTIVE:
                self._remember_expiry(self._recheck, sub.resource, [nxt])
        elif sub.authorised and sub.package == "message-summary":
            counts = await self.inbox_counts(sub.resource)
            if counts is not None:
                body, ctype = _summary_body(sub.resource, *counts), SUMMARY_TYPE
        elif sub.authorised and sub.package == "reg":
            now = time.time()
            bindings = await self.core.locations.bindings(sub.resource, now)
            aor = _entity(sub.dialog.local_uri)
            # "Unchanged" compares the contacts, not the remaining times or the version.
            body = "\n".join(sorted(f"{b.contact} {b.expires_at:.0f} {b.q}" for b in bindings)).encode() or b"init"
            versioned = reginfo.document(aor, bindings, version=sub.version, now=now)
            ctype = reginfo.CONTENT_TYPE
            if bindings and sub.state is SubState.ACTIVE:
                self._remember_expiry(self._recheck, sub.resource, [b.expires_at for b in bindings])
        if not force and body == sub.last_body and sub.state is not SubState.TERMINATED:
            return False
        sub.last_body = body
        if versioned is not None:
            sub.version += 1  # RFC 3680 section 5.4: one more per NOTIFY of the subscription
            body = versioned
        return await self._send_notify(sub, body, ctype)

    async def _send_notify(self, sub: Subscription, body: bytes, ctype: str | None) -> bool:
        """Hand a NOTIFY to the transaction layer; False when it could not be sent."""
        peer = await self._notify_peer(sub)
        if peer is None:
            _log.info("sip.notify.unreachable", target=sub.dialog.remote_target)
            self._forget(sub, "noresource")
            return False
        request = self._notify_request(sub, peer, body, ctype)
        metrics.NOTIFIES.labels(sub.package).inc()
        key = client_key(request)
        self._notifies[key] = sub
        try:
            self.core._act(self.core.layer.send_request(request, now=self.core.now(), peer=peer,
                                                        reliable=peer.reliable))  # fmt: skip
        except LocalProtocolError:
            self._notifies.pop(key, None)
            return False
        return True

    def _notify_request(self, sub: Subscription, peer: Peer, body: bytes, ctype: str | None) -> Request:
        d = sub.dialog
        host = self.core.config.host
        port = self.core._port(peer.transport)
        event = sub.package + (f";id={sub.event_id}" if sub.event_id else "")
        lines = [
            f"NOTIFY {d.remote_target} SIP/2.0",
            f"Via: SIP/2.0/{peer.transport} {_hostport(host, port)};branch=z9hG4bK{secrets.token_hex(10)};rport",
            "Max-Forwards: 70",
            f"From: <{d.local_uri}>;tag={d.local_tag}",
            f"To: <{d.remote_uri}>;tag={d.remote_tag}",
            f"Call-ID: {d.call_id}",
            f"CSeq: {d.next_cseq()} NOTIFY",
            f"Contact: {self._contact(peer)}",
            *(f"Route: {r}" for r in d.route_set),
            f"Event: {event}",
            f"Subscription-State: {sub.state_header(time.time())}",
            f"Allow-Events: {ALLOW_EVENTS}",
            *([f"Content-Type: {ctype}"] if ctype else []),
            f"Content-Length: {len(body)}",
            "",
            "",
        ]
        message = parse_message("\r\n".join(lines).encode() + body, self.core.config.limits)
        assert isinstance(message, Request)
        return message

    async def _notify_peer(self, sub: Subscription) -> Peer | None:
        """Along the route set if any; else back where the SUBSCRIBE came from (phones behind NAT
        listen there, and a stream's connection is reused)."""
        if sub.dialog.route_set:
            try:
                first = parse_uri(sub.dialog.route_set[0].strip().lstrip("<").split(">")[0])
            except GrammarError:
                return None
            return await self.core._peer_for(first)
        return parse_peer(sub.peer)

    def on_response(self, key: TransactionKey, resp: Response) -> bool:
        """A response to one of our NOTIFYs; True when it was one."""
        if resp.status < 200:
            return key in self._notifies
        sub = self._notifies.pop(key, None)
        if sub is None:
            return False
        sub.in_flight = False
        if resp.status in _FATAL_NOTIFY:
            self._forget(sub, None)
        elif sub.queued:  # also the final NOTIFY of a subscription that ended meanwhile
            sub.queued = False
            self.core._spawn(self._notify_state(sub, force=True))
        return True

    def on_failure(self, key: TransactionKey) -> bool:
        """No response (timer F) or a transport error: the subscriber is gone."""
        sub = self._notifies.pop(key, None)
        if sub is None:
            return False
        sub.in_flight = False
        self._forget(sub, None)
        return True

    def _forget(self, sub: Subscription, reason: str | None) -> None:
        if sub.state is not SubState.TERMINATED:
            sub.terminate(reason or "deactivated")
        self.table.remove(sub)

    # -- changes from elsewhere -----------------------------------------------------------
    async def on_state_changed(self, account: str) -> None:
        for sub in self.table.of("presence", account):
            if sub.state is SubState.ACTIVE:
                await self._notify_state(sub)

    async def on_registration_changed(self, account: str) -> None:
        for sub in self.table.of("reg", account):
            if sub.state is SubState.ACTIVE:
                await self._notify_state(sub)

    async def on_account_changed(self, address: str) -> None:
        """The directory changed an account: its watchers' consent may have changed."""
        subs = [s for s in self.table.of("presence", address.lower()) if s.watcher != s.resource]
        if not subs:
            return
        settings = await self._settings(address.lower())
        for sub in subs:
            decision = decide(sub.watcher, sub.resource, settings)
            if decision == "rejected":
                sub.terminate("rejected")
                self.table.remove(sub)
                await self._notify_state(sub, force=True)
            elif decision == "active" and sub.activate():
                await self._notify_state(sub, force=True)

    async def on_mailbox_changed(self, account: str, mailbox: str) -> None:
        if mailbox.upper() != "INBOX":
            return
        for sub in self.table.of("message-summary", account):
            await self._notify_state(sub)

    async def tick(self, now: float) -> None:
        """Expire subscriptions (final NOTIFY, reason timeout) and re-read presentities whose state ran out."""
        metrics.SUBSCRIPTIONS.set(len(self.table))
        for sub in self.table.expired(now):
            sub.terminate("timeout")
            self.table.remove(sub)
            await self._notify_state(sub, force=True)
        for account in [a for a, at in self._recheck.items() if at <= now]:
            del self._recheck[account]
            await self.on_state_changed(account)
            await self.on_registration_changed(account)
        for account in [a for a, at in self._announce.items() if at <= now]:
            del self._announce[account]
            await self.announce(account)

    # -- helpers ----------------------------------------------------------------------------
    async def _settings(self, account: str) -> dict[str, Any]:
        try:
            return await self.account_settings(account)
        except Exception as exc:  # noqa: BLE001 - without settings, the defaults of the policy hold
            _log.warning("sip.presence.settings_unavailable", account=account, error=repr(exc))
            return {}

    @staticmethod
    def _remember_expiry(book: dict[str, float], account: str, times: list[float]) -> None:
        future = [t for t in times if t > time.time()]
        if future:
            at = min(future) + 0.5
            book[account] = min(book.get(account, at), at)

    def _contact(self, peer: Peer) -> str:
        host, port = self.core.config.host, self.core._port(peer.transport)
        transport = "" if peer.transport == "UDP" else f";transport={peer.transport.lower()}"
        return f"<sip:{_hostport(host, port)}{transport}>"

    def _answer(self, key: TransactionKey, request: Request, status: int, reason: str | None = None,
                headers: list[tuple[str, str]] | None = None, *, to_tag: str | None = None) -> None:  # fmt: skip
        reply = response(request, status, reason, to_tag=to_tag or secrets.token_hex(6))
        for name, value in headers or []:
            reply.headers.add(name, value)
        try:
            self.core._act(self.core.layer.send_response(key, reply, now=self.core.now()))
        except LocalProtocolError:
            pass


def _entity(uri: str) -> str:
    """The PIDF entity for a subscription: the resource URI without parameters."""
    return uri.split(";")[0]


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _summary_body(account: str, unseen: int, total: int) -> bytes:
    """RFC 3842 section 5.2: the INBOX's unread messages as new, the rest as old.

    Reported as voice messages because that is the class phones show on their
    message-waiting lamp; until voicemail exists, it is the account's mail."""
    old = max(0, total - unseen)
    return (f"Messages-Waiting: {'yes' if unseen else 'no'}\r\nMessage-Account: sip:{account}\r\n"
            f"Voice-Message: {unseen}/{old} (0/0)\r\n").encode()  # fmt: skip
