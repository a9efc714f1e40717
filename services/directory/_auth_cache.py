"""Remembered clear-text logins, so a mail client that logs in again and again does not cost an argon2id each time.

Like Dovecot's auth_cache: after a successful PLAIN verification the
directory keeps, per account and for a short TTL, an HMAC of (account,
password, stored hash) under a key generated at process start. A later
login of that account with the same password, while the stored hash is
still the same, is accepted from the cache. The password itself is never
kept, and the key never leaves the process's memory, so a leaked entry is
no better than an unsalted fast hash an attacker cannot even compute.

Because the stored hash is part of the HMAC, a password change (a new hash)
misses at once on every replica that reads the new credentials; a disabled
account is still refused, since the enabled flag is checked after the
credential on every login. Besides, every replica drops an account's entry
when any replica announces a change to it (`follow_changes`).
Failed attempts are never remembered.
"""

from __future__ import annotations

import hmac
import secrets
import time

from nats.aio.msg import Msg
from prometheus_client import Counter
from pydantic import ValidationError

from libs.bus import Bus
from libs.contracts.directory import DirectoryChanged, ObjectKind

DEFAULT_MAX_ENTRIES = 100_000
LOOKUPS = Counter("parley_directory_auth_cache_lookups", "Clear-text logins looked up in the login cache", ["result"])


class AuthCache:
    def __init__(self, ttl: float, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._key = secrets.token_bytes(32)
        self._entries: dict[str, tuple[bytes, float]] = {}  # account -> (HMAC, expiry), oldest first

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def hit(self, account: str, password: str, stored_hash: str) -> bool:
        found = self._lookup(account, password, stored_hash)
        if self.enabled:
            LOOKUPS.labels("hit" if found else "miss").inc()
        return found

    def _lookup(self, account: str, password: str, stored_hash: str) -> bool:
        entry = self._entries.get(account)
        if entry is None:
            return False
        mac, expires = entry
        if time.monotonic() >= expires:
            del self._entries[account]
            return False
        return hmac.compare_digest(mac, self._mac(account, password, stored_hash))

    def remember(self, account: str, password: str, stored_hash: str) -> None:
        if not self.enabled:
            return
        self._entries.pop(account, None)  # re-inserted last: the dict stays ordered by age
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[account] = (self._mac(account, password, stored_hash), time.monotonic() + self._ttl)

    def forget(self, account: str) -> None:
        self._entries.pop(account, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _mac(self, account: str, password: str, stored_hash: str) -> bytes:
        # Length-prefixed fields: no two different triples give the same message.
        fields = (s.encode() for s in (account, password, stored_hash))
        message = b"".join(len(f).to_bytes(4, "big") + f for f in fields)
        return hmac.digest(self._key, message, "sha256")


async def follow_changes(bus: Bus, cache: AuthCache) -> None:
    """Account changes on any replica drop that account's entry; domain changes drop all."""

    async def on_event(msg: Msg) -> None:
        try:
            event = DirectoryChanged.model_validate_json(msg.data)
        except ValidationError:
            cache.clear()  # we cannot tell what changed
            return
        if event.kind is ObjectKind.ACCOUNT:
            cache.forget(event.name)
        else:
            cache.clear()

    for kind in (ObjectKind.ACCOUNT, ObjectKind.DOMAIN, ObjectKind.DOMAIN_ALIAS):
        await bus.nc.subscribe(f"directory.{kind.value}.*", cb=on_event)
    bus.on_reconnect(cache.clear)  # events published while we were away never reach us
