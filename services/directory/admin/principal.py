"""Who is calling the admin API, and what they may touch.

HTTP Basic: a login without `@` is a server administrator; an address is an
account with the `domain_admin` flag, limited to its own domain. argon2
verification costs tens of milliseconds, so a successful login is remembered
for a minute (keyed by a hash of the credentials, never the password itself).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.auth import passwords
from libs.contracts.errors import Forbidden, TooManyRequests, Unauthorized
from services.directory._addresses import InvalidAddress, parse_address
from services.directory._lookup import find_account
from services.directory._throttle import FailureWindow
from services.directory.models import Admin

CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Principal:
    name: str
    role: str  # "server" or "domain"
    domain: str = ""

    @property
    def is_server_admin(self) -> bool:
        return self.role == "server"

    def require_domain(self, domain: str) -> None:
        if not self.is_server_admin and domain != self.domain:
            raise Forbidden(f"{self.name} administers {self.domain} only")

    def require_server_admin(self) -> None:
        if not self.is_server_admin:
            raise Forbidden("only server administrators may do this")


class AdminAuthenticator:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], failures: FailureWindow) -> None:
        self._sessions = sessions
        self._failures = failures
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, user: str, password: str, client: str) -> Principal:
        retry = self._failures.retry_after(client)
        if retry is not None:
            raise TooManyRequests(f"too many failed logins; retry in {int(retry) + 1} s")
        key = hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()
        cached = self._cache.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        principal = await self._verify(user, password)
        if principal is None:
            self._failures.record_failure(client)
            raise Unauthorized("wrong administrator name or password")
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + CACHE_SECONDS, principal)
        return principal

    def forget(self) -> None:
        """Drop remembered logins (after any password or role change)."""
        self._cache.clear()

    async def _verify(self, user: str, password: str) -> Principal | None:
        async with self._sessions() as session:
            if "@" not in user:
                admin = await session.scalar(select(Admin).where(Admin.name == user.lower()))
                if admin and await asyncio.to_thread(passwords.verify_password, admin.password_hash, password):
                    return Principal(name=admin.name, role="server")
                return None
            try:
                address = parse_address(user)
            except InvalidAddress:
                return None
            account = await find_account(session, address)
            if account is None or not account.domain_admin or not account.enabled or not account.password_hash:
                return None
            if not await asyncio.to_thread(passwords.verify_password, account.password_hash, password):
                return None
            return Principal(name=address.text, role="domain", domain=account.entry.domain.name)
