"""Per-client request rate limits: a token bucket per source address (pure, the caller passes the clock).

A flood of new requests from one address (INVITE or REGISTER storms, a
scanner) would otherwise cost directory lookups and KV reads for each one.
Each source address gets `rate` new requests per second with bursts up to
`burst`; past that, requests are answered 503 with Retry-After (RFC 3261
section 21.5.4) without any lookup. Retransmissions never get here (the
transaction layer absorbs them), and ACK and CANCEL are never limited.
"""

from __future__ import annotations

from libs.net.limits import TokenBuckets


class ClientRateLimiter(TokenBuckets):
    """Token buckets per source address on the caller's clock (`allow(client, now)`)."""

    def __init__(self, *, rate: float, burst: float, max_clients: int = 100_000) -> None:
        super().__init__(rate=rate, burst=max(burst, 1.0), max_keys=max_clients)
