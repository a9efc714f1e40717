"""Per-account call forwarding from the directory's account settings.

The callee's settings document may hold
`{"sip": {"forward": {"always": URI, "busy": URI, "no_answer": URI, "no_answer_seconds": 20}}}`
(each target a SIP URI or a bare address). `rules` reads it (pure); the
proxy core applies it to an INVITE: always -> straight to the target; busy
-> when every branch answered 486 or one answered 600; no answer -> when no
branch answered within `no_answer_seconds`, or every branch failed with
408/480 (or the callee has no phone registered).

`SettingsCache` asks the directory (`directory.rpc.account_get`) and keeps
answers `ttl` seconds, dropped at once when the directory says an account
changed, so an INVITE costs no extra round trip in the common case.

`divert` and the no-answer timer act on the proxy core's fork (a response
context of `_core.py`): the forwarded INVITE starts new branches in the same
context, so the caller's transaction, CANCEL and the CDR go on unchanged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from libs.bus import Bus
from libs.contracts import directory as dir_contract
from libs.contracts import sip as contract
from libs.contracts.directory import ResolveStatus
from libs.contracts.errors import ServiceError
from libs.log import get_logger
from services.sip import _metrics as metrics
from services.sip import _routing as routing
from services.sip.protocol import GrammarError, SipUri, Uri, parse_uri

if TYPE_CHECKING:
    from services.sip._core import SipCore, _Fork

_log = get_logger()

MAX_HOPS = 5  # forwardings of one call, so A -> B -> A -> ... ends
DEFAULT_NO_ANSWER = 20.0
BUSY_STATUSES = (486, 600)
NO_ANSWER_STATUSES = (408, 480)
# RFC 5806 Diversion reasons.
REASONS = {"always": "unconditional", "busy": "user-busy", "no_answer": "no-answer"}


@dataclass(frozen=True)
class ForwardRules:
    always: Uri | None = None
    busy: Uri | None = None
    no_answer: Uri | None = None
    no_answer_seconds: float = DEFAULT_NO_ANSWER

    def for_status(self, status: int) -> tuple[str, Uri] | None:
        """Which rule a final status of the whole fork triggers, if any."""
        if status in BUSY_STATUSES and self.busy is not None:
            return "busy", self.busy
        if status in NO_ANSWER_STATUSES and self.no_answer is not None:
            return "no_answer", self.no_answer
        return None


def rules(settings: dict[str, Any]) -> ForwardRules | None:
    """The forwarding rules in an account's settings document; None when it sets none."""
    sip = settings.get("sip") if isinstance(settings, dict) else None
    forward = sip.get("forward") if isinstance(sip, dict) else None
    if not isinstance(forward, dict):
        return None
    found = {name: _target(forward.get(name)) for name in ("always", "busy", "no_answer")}
    if not any(found.values()):
        return None
    seconds = forward.get("no_answer_seconds", DEFAULT_NO_ANSWER)
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        seconds = DEFAULT_NO_ANSWER
    return ForwardRules(found["always"], found["busy"], found["no_answer"], min(max(float(seconds), 1.0), 600.0))


def _target(value: Any) -> Uri | None:
    if not isinstance(value, str) or not value.strip() or len(value) > 512:
        return None
    text = value.strip()
    if not text.lower().startswith(("sip:", "sips:")):
        text = f"sip:{text}"
    try:
        uri = parse_uri(text)
    except GrammarError:
        return None
    return uri if isinstance(uri, SipUri) and uri.user is not None else None


class SettingsCache:
    def __init__(self, bus: Bus, *, ttl: float = 10.0, size: int = 50_000) -> None:
        self.bus = bus
        self.ttl = ttl
        self.size = size
        self._cache: dict[str, tuple[float, ForwardRules | None]] = {}

    async def watch(self) -> None:
        async def dropped(_msg: object) -> None:
            self._cache.clear()

        await self.bus.nc.subscribe(dir_contract.ACCOUNT_CHANGED, cb=dropped)
        await self.bus.nc.subscribe(dir_contract.ACCOUNT_DELETED, cb=dropped)

    async def rules(self, account: str) -> ForwardRules | None:
        now = time.monotonic()
        cached = self._cache.get(account)
        if cached is not None and cached[0] > now:
            return cached[1]
        request = dir_contract.AccountGetRequest(address=account)
        try:
            info = await self.bus.request(dir_contract.RPC_ACCOUNT_GET, request, dir_contract.AccountInfo)
        except ServiceError as exc:
            _log.warning("sip.forward.settings_unavailable", account=account, error=str(exc))
            return None  # the call goes on unforwarded rather than fails
        found = rules(info.settings)
        if len(self._cache) >= self.size:
            self._cache.clear()
        self._cache[account] = (now + self.ttl, found)
        return found


async def divert(core: SipCore, fork: _Fork, rule: str, target: Uri) -> bool:
    """Send the call on to `target` (with an RFC 5806 Diversion); False when it cannot go there
    (a loop, too many hops, an unknown or unreachable target): the caller then gets what it would have."""
    if fork.hops >= MAX_HOPS or not isinstance(target, SipUri) or target.user is None:
        return False
    resolved = await core.directory.resolve(f"{target.user_unescaped}@{_host(target)}")
    local = resolved.status is ResolveStatus.LOCAL and bool(resolved.accounts)
    if resolved.status in (ResolveStatus.UNKNOWN, ResolveStatus.INVALID) or (
            resolved.status is ResolveStatus.LOCAL and not local):  # fmt: skip
        return False
    name = resolved.accounts[0].lower() if local else resolved.address.lower()
    if name in fork.visited:
        _log.info("sip.forward.loop", call_id=fork.request.call_id, target=name)
        return False
    fork.visited.add(name)
    fork.hops += 1
    stop_no_answer(fork)
    original = fork.request.uri
    fork.request = routing.copy_request(fork.request)
    fork.request.headers.add("Diversion", f"<{original}>;reason={REASONS[rule]};counter={fork.hops}")
    fork.request.set_uri(target)
    fork.finals.clear()
    fork.groups = []
    fork.forward = None
    _log.info("sip.forward", call_id=fork.request.call_id, rule=rule, target=name)
    metrics.FORWARDED.labels(rule).inc()
    if not local:
        route = core.config.static_routes.get(_host(target)) or core.config.static_routes.get("*")
        peer = await core._peer_for(parse_uri(route) if route else target)
        if peer is None:
            return False
        core._start_branch(fork, target=target, peer=peer)
        return True
    fork.callee = resolved.accounts[0]
    fork.forward = await core.forwarding.rules(fork.callee) if core.forwarding is not None else None
    if fork.forward is not None and fork.forward.always is not None:
        if await divert(core, fork, "always", fork.forward.always):
            return True
    bindings: list[contract.Binding] = []
    for account in resolved.accounts:
        bindings += await core.locations.bindings(account, time.time())
    fork.groups = routing.target_groups(bindings)
    if await core._next_group(fork):
        start_no_answer(core, fork)
        return True
    then = fork.forward.for_status(480) if fork.forward is not None else None  # nobody registered there
    return then is not None and await divert(core, fork, *then)


def start_no_answer(core: SipCore, fork: _Fork) -> None:
    if fork.forward is not None and fork.forward.no_answer is not None:
        fork.no_answer_timer = asyncio.get_running_loop().call_later(
            fork.forward.no_answer_seconds, lambda: core._spawn(_no_answer(core, fork))
        )


def stop_no_answer(fork: _Fork) -> None:
    if fork.no_answer_timer is not None:
        fork.no_answer_timer.cancel()
        fork.no_answer_timer = None


async def _no_answer(core: SipCore, fork: _Fork) -> None:
    """Nobody picked up in time: ring the no-answer target, then stop ringing the callee."""
    fork.no_answer_timer = None
    if fork.answered or fork.final_sent or fork.cancelled or fork.forward is None or fork.forward.no_answer is None:
        return
    ringing = [b for b in fork.branches.values() if not b.done]
    if await divert(core, fork, "no_answer", fork.forward.no_answer):
        for branch in ringing:
            core._cancel_branch(branch)


def _host(uri: SipUri) -> str:
    """As the core compares hosts: lower case, no brackets, no trailing dot."""
    return uri.host.strip("[]").lower().rstrip(".")
