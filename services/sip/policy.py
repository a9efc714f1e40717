"""Questions the SIP core asks other services: who is this address, is this digest right.

`Directory` is the seam: production asks `directory.rpc.resolve` and
`directory.rpc.auth` over the bus; tests pass a fake with the same methods.
The digest response is checked by the directory (the HA1 never leaves it);
nonces are ours (`_nonces.py`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from libs.auth.digest import ALGORITHMS  # what the directory keeps HA1 for, so can check
from libs.bus import Bus
from libs.contracts import directory as dir_contract
from libs.contracts.errors import ServiceError
from libs.log import get_logger
from services.sip._nonces import NonceBook, NonceVerdict
from services.sip.protocol import AuthValue, Request, challenge

_log = get_logger()


class Directory(Protocol):
    async def resolve(self, address: str) -> dir_contract.ResolveReply: ...

    async def check_digest(self, username: str, fields: dir_contract.DigestResponse,
                           client: str) -> dir_contract.AuthReply: ...  # fmt: skip


class BusDirectory:
    """The directory over the bus. Resolutions are cached for `cache_ttl` seconds and the
    whole cache is dropped on any `directory.>` change event (`watch`), so a new
    account or alias is routable at once and a removed one stops being so."""

    def __init__(self, bus: Bus, *, cache_ttl: float = 10.0, cache_size: int = 50_000) -> None:
        self.bus = bus
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self._cache: dict[str, tuple[float, dir_contract.ResolveReply]] = {}

    async def watch(self) -> None:
        async def dropped(_msg: object) -> None:
            self._cache.clear()

        # One subscription per kind of object, not `directory.>`: that would also take in
        # every `directory.rpc.*` request (ours included) and drop the cache on each.
        for kind in dir_contract.ObjectKind:
            await self.bus.nc.subscribe(f"directory.{kind.value}.*", cb=dropped)

    async def resolve(self, address: str) -> dir_contract.ResolveReply:
        key = address.lower()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        request = dir_contract.ResolveRequest(address=address[:1024])
        reply = await self.bus.request(dir_contract.RPC_RESOLVE, request, dir_contract.ResolveReply)
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[key] = (now + self.cache_ttl, reply)
        return reply

    async def check_digest(self, username: str, fields: dir_contract.DigestResponse,
                           client: str) -> dir_contract.AuthReply:  # fmt: skip
        request = dir_contract.AuthRequest(
            mechanism=dir_contract.Mechanism.DIGEST, username=username[:512], digest=fields,
            client_address=client[:64], protocol="sip",
        )  # fmt: skip
        return await self.bus.request(dir_contract.RPC_AUTH, request, dir_contract.AuthReply)


class AuthStatus(Enum):
    OK = "ok"
    CHALLENGE = "challenge"  # no (usable) credentials: 401/407 with fresh nonces
    STALE = "stale"  # right password perhaps, old nonce: challenge with stale=true
    FORBIDDEN = "forbidden"  # wrong credentials or a replayed nonce: 403
    UNAVAILABLE = "unavailable"  # the directory did not answer: 500 with Retry-After


@dataclass(frozen=True)
class AuthResult:
    status: AuthStatus
    account: str | None = None


class DigestAuth:
    """Challenges and checks digest credentials for one realm per request (RFC 3261 section 22, RFC 8760)."""

    def __init__(self, directory: Directory, nonces: NonceBook, *, algorithms: list[str]) -> None:
        self.directory = directory
        self.nonces = nonces
        self.algorithms = [a for a in algorithms if a.upper() in ALGORITHMS] or ["MD5"]

    def challenges(self, realm: str, now: float, *, stale: bool = False) -> list[AuthValue]:
        """One challenge per algorithm, the preferred first (RFC 8760 section 2.4)."""
        return [challenge(realm=realm, nonce=self.nonces.issue(now), algorithm=a, stale=stale, qop="auth")
                for a in self.algorithms]  # fmt: skip

    async def check(self, request: Request, *, realm: str, proxy: bool, client: str, now: float) -> AuthResult:
        try:
            values = request.proxy_authorization if proxy else request.authorization
        except Exception:  # noqa: BLE001 - a malformed field is as good as none
            return AuthResult(AuthStatus.CHALLENGE)
        mine = [v for v in values if v.is_digest and (v.realm or "").lower() == realm.lower()]
        if not mine:
            return AuthResult(AuthStatus.CHALLENGE)
        cred = mine[0]
        nonce, username, response, uri = cred.nonce, cred.username, cred.response, cred.uri
        if not nonce or not username or not response or uri is None:
            return AuthResult(AuthStatus.FORBIDDEN)
        if cred.algorithm.upper().removesuffix("-SESS") not in ALGORITHMS:
            return AuthResult(AuthStatus.CHALLENGE)
        verdict = self.nonces.check(nonce, nc=cred.nc if cred.qop else None, now=now)
        if verdict is NonceVerdict.STALE:
            return AuthResult(AuthStatus.STALE)
        if verdict is NonceVerdict.REPLAYED:
            _log.info("sip.auth.replayed", user=username, peer=client)
            return AuthResult(AuthStatus.FORBIDDEN)
        body_hash = None
        if cred.qop == "auth-int":
            base = cred.algorithm.upper().removesuffix("-SESS")
            body_hash = hashlib.new(ALGORITHMS[base], request.body).hexdigest()
        try:
            fields = dir_contract.DigestResponse(
                realm=realm, nonce=nonce, uri=uri, method=request.method, response=response,
                algorithm=cred.algorithm, qop=cred.qop, nc=cred.nc, cnonce=cred.cnonce, body_hash=body_hash,
            )  # fmt: skip
        except ValueError:
            return AuthResult(AuthStatus.FORBIDDEN)
        try:
            reply = await self.directory.check_digest(username, fields, client)
        except ServiceError as exc:
            _log.warning("sip.auth.unavailable", error=str(exc))
            return AuthResult(AuthStatus.UNAVAILABLE)
        if not reply.ok or reply.account is None:
            _log.info("sip.auth.failed", user=username, realm=realm, peer=client, failure=str(reply.failure))
            return AuthResult(AuthStatus.FORBIDDEN)
        if not self.nonces.commit(nonce, nc=cred.nc if cred.qop else None, now=now):
            return AuthResult(AuthStatus.FORBIDDEN)  # the same count raced in twice
        return AuthResult(AuthStatus.OK, reply.account)
