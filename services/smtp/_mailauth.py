"""Sender authentication and anti-abuse on the listeners: the seam the transport calls.

- `allow_connection`: new connections per minute per client address (421 4.7.0).
- `check_mail_from`: messages per minute per client address and per
  authenticated account (450 4.7.1), then SPF of MAIL FROM/HELO on the MX
  listener (RFC 7208; optional 550 5.7.23 / 451 4.7.24, RFC 7372).
- `spool`: the message content's way into the blob store. On the MX listener
  a message up to `dkim_verify_max_bytes` is held in memory until its end,
  DKIM-verified (RFC 6376) and written in one blob put with our
  Authentication-Results field (RFC 8601) after the trace headers; a larger
  one streams as before, with `dkim=policy` (signed) or `dkim=none`. All
  messages held at once share one budget (`dkim_verify_memory_bytes`): when
  it is spent, content streams as if it were large, so a thousand concurrent
  4 MB messages cannot exhaust memory. On MX and submission,
  Authentication-Results fields from outside that claim our authserv-id are
  removed (RFC 8601 section 5). LMTP is left untouched: its client is a
  trusted MTA that may have checked the message already.

Submission is never SPF-checked or DKIM-verified: the sender proved who it is.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from prometheus_client import Counter

from libs.blobs import BlobRef, BlobStore
from libs.log import get_logger
from services.smtp import _dns
from services.smtp._authres import ForeignResultsFilter, authentication_results
from services.smtp._dkim_verify import DkimResult, DkimVerifier, has_signature
from services.smtp._ratelimit import RateLimiter
from services.smtp._spf import SpfChecker, SpfResult
from services.smtp._spool import Spool
from services.smtp.config_mailauth import MailAuthSettings, SpfFailAction, SpfTempErrorAction
from services.smtp.protocol import Address, Reply

_log = get_logger()

SPF_RESULTS = Counter("parley_smtp_spf_results_total", "SPF results on the MX listener", ["result"])
DKIM_RESULTS = Counter("parley_smtp_dkim_results_total", "DKIM results per signature (or none)", ["result"])
RATE_LIMITED = Counter("parley_smtp_rate_limited_total", "Refusals by rate limit", ["limit"])

CHECKED_LISTENERS = ("mx",)
FILTERED_LISTENERS = ("mx", "submission", "submissions")
RATE_LIMITED_LISTENERS = ("mx", "submission", "submissions")


def too_many_connections_per_minute() -> Reply:
    return Reply(421, "4.7.0", "Too many connections from your address, try again later")


def too_many_messages() -> Reply:
    return Reply(450, "4.7.1", "Too many messages from your address, try again later")


def too_many_account_messages() -> Reply:
    return Reply(450, "4.7.1", "Too many messages from your account, try again later")


def spf_failed(domain: str) -> Reply:
    return Reply(550, "5.7.23", f"SPF validation failed: {domain[:100]} does not designate your address")


def spf_temporary_error() -> Reply:
    return Reply(451, "4.7.24", "SPF validation error, try again later")


class MemoryBudget:
    """Bytes that messages held in memory for verification may take together (one process)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give_back(self, size: int) -> None:
        self.used = max(0, self.used - size)


@dataclass(frozen=True)
class MailFromVerdict:
    reply: Reply | None  # None: accepted
    spf: SpfResult | None = None


class MailAuth:
    """One per process: resolvers, thread pools and rate counters shared by every session."""

    def __init__(self, settings: MailAuthSettings, *, hostname: str) -> None:
        self.settings = settings
        self.hostname = hostname
        self._cpu = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dkim")
        self.spf = SpfChecker(settings, receiver=hostname)
        self.dkim = DkimVerifier(_dns.async_resolver(settings), self._cpu, max_signatures=settings.dkim_max_signatures)
        limit = settings.rate_limit_max_clients
        self.connections = RateLimiter(settings.connection_rate_per_minute, max_keys=limit)
        self.messages = RateLimiter(settings.message_rate_per_minute, max_keys=limit)
        self.account_messages = RateLimiter(settings.account_message_rate_per_minute, max_keys=limit)
        self.budget = MemoryBudget(settings.dkim_verify_memory_bytes)

    def close(self) -> None:
        self.spf.close()
        self._cpu.shutdown(wait=False, cancel_futures=True)

    def allow_connection(self, listener: str, peer: str) -> bool:
        if listener not in RATE_LIMITED_LISTENERS or self.connections.allow(peer):
            return True
        RATE_LIMITED.labels("connections").inc()
        return False

    async def check_mail_from(
        self, *, listener: str, peer: str, helo: str | None, reverse_path: Address | None, account: str | None
    ) -> MailFromVerdict:
        if listener in RATE_LIMITED_LISTENERS:
            if not self.messages.allow(peer):
                RATE_LIMITED.labels("messages").inc()
                return MailFromVerdict(too_many_messages())
            if account is not None and not self.account_messages.allow(account):
                RATE_LIMITED.labels("account_messages").inc()
                return MailFromVerdict(too_many_account_messages())
        if listener not in CHECKED_LISTENERS or account is not None or not self.settings.spf_enabled:
            return MailFromVerdict(None)
        sender = None if reverse_path is None else reverse_path.text
        result = await self.spf.check(client_ip=peer, sender=sender, helo=helo)
        SPF_RESULTS.labels(result.result).inc()
        if result.result == "fail" and self.settings.spf_fail_action is SpfFailAction.REJECT:
            return MailFromVerdict(spf_failed(result.value.rpartition("@")[2]), result)
        if result.result == "temperror" and self.settings.spf_temperror_action is SpfTempErrorAction.DEFER:
            return MailFromVerdict(spf_temporary_error(), result)
        return MailFromVerdict(None, result)

    def spool(
        self, blobs: BlobStore, head: bytes, *, listener: str, authenticated: bool, spf: SpfResult | None
    ) -> Spool | CheckingSpool:
        if listener not in FILTERED_LISTENERS:
            return Spool(blobs, head)
        checked = listener in CHECKED_LISTENERS and not authenticated
        verify_limit = self.settings.dkim_verify_max_bytes if checked and self.settings.dkim_verify_enabled else None
        return CheckingSpool(
            blobs, head, authserv_id=self.hostname, verifier=self.dkim if verify_limit is not None else None,
            verify_limit=verify_limit or 0, spf=spf, add_results=checked, budget=self.budget,
        )  # fmt: skip


class CheckingSpool:
    """A `Spool` that verifies DKIM on small messages and puts Authentication-Results in front.

    Same methods as `Spool`: `add()` each chunk, then `finish()` or `abort()`.
    """

    def __init__(
        self,
        blobs: BlobStore,
        head: bytes,
        *,
        authserv_id: str,
        verifier: DkimVerifier | None,
        verify_limit: int,
        spf: SpfResult | None,
        add_results: bool,
        budget: MemoryBudget | None = None,
    ) -> None:
        self._blobs = blobs
        self._head = head
        self._authserv_id = authserv_id
        self._verifier = verifier
        self._limit = verify_limit
        self._spf = spf
        self._add_results = add_results
        self._budget = budget or MemoryBudget(verify_limit + 1)
        self._filter = ForeignResultsFilter(authserv_id)
        self._held: list[bytes] = []
        self._held_size = 0
        self._stream: Spool | None = None
        if verifier is None:
            self._stream = Spool(blobs, head + self._results([]))

    def _results(self, dkim: list[DkimResult] | None) -> bytes:
        if not self._add_results:
            return b""
        clauses = [self._spf.clause()] if self._spf is not None else []
        clauses += [r.clause() for r in dkim or []]
        return authentication_results(self._authserv_id, clauses)

    async def add(self, data: bytes) -> None:
        if self._stream is not None:
            await self._stream.add(self._filter.feed(data))
            return
        if self._held_size + len(data) > self._limit:
            await self._start_streaming(data, "message too large to verify")
        elif not self._budget.take(len(data)):
            await self._start_streaming(data, "verification capacity exhausted")
        else:
            self._held.append(data)
            self._held_size += len(data)

    def _release(self) -> bytes:
        held = b"".join(self._held)
        self._budget.give_back(self._held_size)
        self._held, self._held_size = [], 0
        return held

    async def _start_streaming(self, data: bytes, reason: str) -> None:
        """Not verified after all: stream from here on, saying why in the results."""
        held = self._release() + data
        dkim = DkimResult("policy" if has_signature(held) else "none", reason=reason)
        DKIM_RESULTS.labels(dkim.result).inc()
        self._stream = Spool(self._blobs, self._head + self._results([dkim]))
        await self._stream.add(self._filter.feed(held))

    async def finish(self, timeout: float) -> BlobRef:
        if self._stream is not None:
            await self._stream.add(self._filter.flush())
            return await self._stream.finish(timeout)
        message = b"".join(self._held)
        self._held = []
        assert self._verifier is not None
        try:
            try:
                results = await asyncio.wait_for(self._verifier.verify(message), timeout)
            except TimeoutError:
                results = [DkimResult("temperror", reason="verification timed out")]
            for result in results:
                DKIM_RESULTS.labels(result.result).inc()
            content = self._filter.feed(message) + self._filter.flush()
            if self._filter.removed:
                _log.info("smtp.authres.removed_foreign", count=self._filter.removed)
            return await asyncio.wait_for(self._blobs.put(self._head + self._results(results) + content), timeout)
        finally:
            self._release()  # the budget is held until the bytes are written

    async def abort(self) -> None:
        self._release()
        if self._stream is not None:
            await self._stream.abort()
