"""Who is calling the CDR API: HTTP Basic checked by the directory over the bus.

The cdr service never reads the directory's database; it asks
`directory.rpc.admin_auth`, which applies the directory's own verification
and failure throttle. argon2 verification costs tens of milliseconds, so a
successful login is remembered for `auth_cache_seconds`, keyed by a hash of
the credentials (never the password itself), as the directory does; any
change of an administrator or an account (a new password, a lost
domain_admin flag) announced by the directory drops what is remembered.
"""

from __future__ import annotations

import hashlib
import time

from libs.bus import Bus
from libs.contracts import directory
from libs.contracts.errors import Forbidden


class AdminLogins:
    def __init__(self, bus: Bus, *, cache_seconds: float) -> None:
        self._bus = bus
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, directory.AdminPrincipal]] = {}

    async def forget_on_directory_changes(self) -> None:
        async def forget(_msg: object) -> None:
            self._cache.clear()

        for kind in (directory.ObjectKind.ADMIN, directory.ObjectKind.ACCOUNT, directory.ObjectKind.DOMAIN):
            await self._bus.nc.subscribe(f"directory.{kind.value}.*", cb=forget)

    async def authenticate(self, user: str, password: str, client: str) -> directory.AdminPrincipal:
        key = hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()
        cached = self._cache.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        request = directory.AdminAuthRequest(user=user[:512], password=password[:1024], client_address=client[:64])
        # Unauthorized / TooManyRequests / Unavailable come back as the same exception classes.
        who = await self._bus.request(directory.RPC_ADMIN_AUTH, request, directory.AdminPrincipal)
        if who.role not in ("server", "domain") or (who.role == "domain" and not who.domain):
            raise Forbidden(f"{who.name} administers nothing the CDR API knows")
        if len(self._cache) > 10_000:
            self._cache.clear()
        if self._cache_seconds > 0:
            self._cache[key] = (time.monotonic() + self._cache_seconds, who)
        return who
