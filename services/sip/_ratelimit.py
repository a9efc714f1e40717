"""Per-client request rate limits: a token bucket per source address (pure, the caller passes the clock).

A flood of new requests from one address (INVITE or REGISTER storms, a
scanner) would otherwise cost directory lookups and KV reads for each one.
Each source address gets `rate` new requests per second with bursts up to
`burst`; past that, requests are answered 503 with Retry-After (RFC 3261
section 21.5.4) without any lookup. Retransmissions never get here (the
transaction layer absorbs them), and ACK and CANCEL are never limited.
"""

from __future__ import annotations


class ClientRateLimiter:
    def __init__(self, *, rate: float, burst: float, max_clients: int = 100_000) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last time)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, client: str, now: float) -> bool:
        if not self.enabled:
            return True
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if len(self._buckets) >= self.max_clients and client not in self._buckets:
            self._forget_full(now)
        self._buckets[client] = (tokens, now)
        return allowed

    def _forget_full(self, now: float) -> None:
        """Drop clients whose bucket has refilled: they are indistinguishable from new ones."""
        refill = self.burst / self.rate
        for client in [c for c, (_, last) in self._buckets.items() if now - last >= refill]:
            del self._buckets[client]
