"""Digest nonces for the registrar and the proxy (RFC 3261 section 22.4, RFC 7616 section 3.3).

How this works
--------------
A nonce is `base64url(issued_at | random | HMAC(key, issued_at | random))`:
the process that issued it can tell, without storing anything, that it made
it and when. A nonce older than `lifetime`, or made by another process (a
restarted one, or another replica: each has its own random key), is *stale*:
the challenge is repeated with `stale=true` and the client answers again
without asking its user (RFC 7616 section 3.3).

Replays: with qop the client counts its uses of a nonce (`nc`), and each
count is good once and must grow (RFC 7616 section 3.4: the server SHOULD
check the nc). Without qop (RFC 2069 clients) a nonce is good once. The
counts live in memory until the nonce expires; since only the issuing
process accepts a nonce, that is enough across a farm of replicas.

Pure: the caller passes the clock and the randomness source is `secrets`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from enum import Enum


class NonceVerdict(Enum):
    FRESH = "fresh"  # issued here, in time, this count not seen
    STALE = "stale"  # expired, or not ours: challenge again with stale=true
    REPLAYED = "replayed"  # a count already used (or not growing): refuse


_TAG = 12
_RANDOM = 8


class NonceBook:
    def __init__(self, *, lifetime: float, key: bytes | None = None, max_tracked: int = 200_000) -> None:
        self.lifetime = lifetime
        self._key = key or secrets.token_bytes(32)
        self._counts: dict[str, tuple[float, int]] = {}  # nonce -> (issued_at, highest nc used)
        self._max_tracked = max_tracked

    def issue(self, now: float) -> str:
        body = struct.pack(">d", now) + secrets.token_bytes(_RANDOM)
        tag = hmac.digest(self._key, body, hashlib.sha256)[:_TAG]
        return base64.urlsafe_b64encode(body + tag).decode().rstrip("=")

    def _issued_at(self, nonce: str) -> float | None:
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 8 + _RANDOM + _TAG:
            return None
        body, tag = raw[:-_TAG], raw[-_TAG:]
        if not hmac.compare_digest(tag, hmac.digest(self._key, body, hashlib.sha256)[:_TAG]):
            return None
        return float(struct.unpack(">d", body[:8])[0])

    def check(self, nonce: str, *, nc: str | None, now: float) -> NonceVerdict:
        """May this nonce (with this count) be used now? Does not record the use (see `commit`)."""
        issued = self._issued_at(nonce)
        if issued is None or not (issued - 1 <= now <= issued + self.lifetime):
            return NonceVerdict.STALE
        count = _count(nc)
        if count is None and nc is not None:
            return NonceVerdict.REPLAYED  # a malformed nc is never a fresh one
        seen = self._counts.get(nonce)
        if seen is not None and (count or 0) <= seen[1]:
            return NonceVerdict.REPLAYED
        return NonceVerdict.FRESH

    def commit(self, nonce: str, *, nc: str | None, now: float) -> bool:
        """Record a verified use; False when a concurrent request used the same count first."""
        issued = self._issued_at(nonce)
        if issued is None:
            return False
        count = _count(nc) or 0
        seen = self._counts.get(nonce)
        if seen is not None and count <= seen[1]:
            return False
        if len(self._counts) >= self._max_tracked:
            self.prune(now)
        self._counts[nonce] = (issued, count)
        return True

    def prune(self, now: float) -> None:
        """Forget the counts of expired nonces (they are refused as stale anyway)."""
        limit = now - self.lifetime
        for nonce in [n for n, (issued, _) in self._counts.items() if issued < limit]:
            del self._counts[nonce]

    def __len__(self) -> int:
        return len(self._counts)


def _count(nc: str | None) -> int | None:
    if nc is None or len(nc) != 8:
        return None
    try:
        return int(nc, 16)
    except ValueError:
        return None
