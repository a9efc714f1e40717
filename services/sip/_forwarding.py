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
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from libs.bus import Bus
from libs.contracts import directory as dir_contract
from libs.contracts.errors import ServiceError
from libs.log import get_logger
from services.sip.protocol import GrammarError, SipUri, Uri, parse_uri

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
