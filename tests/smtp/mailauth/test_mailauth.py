"""The transport's seam: rate limits and SPF at MAIL FROM, DKIM and Authentication-Results on the spool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import dkim
import pytest

from libs.blobs import BlobRef, LocalBlobStore
from libs.testing.dnsserver import DnsServer
from services.smtp._mailauth import CheckingSpool, MailAuth
from services.smtp._spf import SpfResult
from services.smtp._spool import Spool
from services.smtp.config_mailauth import MailAuthSettings, SpfFailAction, SpfTempErrorAction
from services.smtp.protocol import Address
from tests.smtp.mailauth.conftest import RsaKey

ME = "mx.example.test"
HEAD = b"Return-Path: <a@b.test>\r\nReceived: from x ([192.0.2.1])\r\n\tby mx.example.test; now\r\n"
MESSAGE = (
    b"Authentication-Results: mx.example.test; dkim=pass header.d=bank.test\r\n"
    b"From: <sender@spool.test>\r\nTo: <alice@example.test>\r\nSubject: hi\r\n\r\nHello\r\n"
)


class CountingBlobs(LocalBlobStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.puts = 0
        self.streams = 0

    async def put(self, data: bytes) -> BlobRef:
        self.puts += 1
        return await super().put(data)

    async def put_stream(self, chunks: AsyncIterator[bytes]) -> BlobRef:
        self.streams += 1
        return await super().put_stream(chunks)


@pytest.fixture
async def blobs(tmp_path: Path) -> AsyncIterator[CountingBlobs]:
    store = CountingBlobs(tmp_path)
    yield store
    await store.close()


def make(settings: MailAuthSettings, **changes: object) -> MailAuth:
    return MailAuth(settings.model_copy(update=changes), hostname=ME)


async def write(spool: Spool | CheckingSpool, content: bytes, blobs: CountingBlobs, piece: int = 7) -> bytes:
    for i in range(0, len(content), piece):
        await spool.add(content[i : i + piece])
    ref = await spool.finish(30)
    return await blobs.get(ref.digest)


SPF_PASS = SpfResult("pass", "mailfrom", "sender@spool.test", "sender SPF authorized")


async def test_small_message_is_verified_and_written_in_one_put(
    settings: MailAuthSettings, blobs: CountingBlobs, dns_server: DnsServer, rsa_key: RsaKey
) -> None:
    dns_server.txt("sel._domainkey.spool.test", rsa_key.record)
    signed = dkim.sign(MESSAGE, b"sel", b"spool.test", rsa_key.pem, include_headers=[b"from", b"subject"]) + MESSAGE
    auth = make(settings)
    spool = auth.spool(blobs, HEAD, listener="mx", authenticated=False, spf=SPF_PASS)
    stored = await write(spool, signed, blobs)
    assert (blobs.puts, blobs.streams) == (1, 0)
    assert stored.startswith(HEAD + b"Authentication-Results: mx.example.test;\r\n\tspf=pass (sender SPF authorized) "
                             b"smtp.mailfrom=sender@spool.test;\r\n\tdkim=pass header.d=spool.test")  # fmt: skip
    assert b"header.d=bank.test" not in stored, "the forged field claiming our authserv-id is gone"
    assert stored.endswith(MESSAGE.split(b"\r\n", 1)[1])
    assert stored.count(b"Authentication-Results:") == 1
    auth.close()


async def test_large_message_streams_with_policy_result(
    settings: MailAuthSettings, blobs: CountingBlobs, rsa_key: RsaKey
) -> None:
    big = MESSAGE + b"x" * 998 + b"\r\n"
    signed = dkim.sign(big, b"sel", b"spool.test", rsa_key.pem) + big
    auth = make(settings, dkim_verify_max_bytes=200)
    stored = await write(auth.spool(blobs, HEAD, listener="mx", authenticated=False, spf=None), signed, blobs, 64)
    assert (blobs.puts, blobs.streams) == (0, 1)
    assert stored.startswith(HEAD + b"Authentication-Results: mx.example.test;\r\n"
                             b"\tdkim=policy (message too large to verify)\r\n")  # fmt: skip
    assert b"header.d=bank.test" not in stored
    unsigned = await write(auth.spool(blobs, HEAD, listener="mx", authenticated=False, spf=None), big, blobs, 64)
    assert b"\tdkim=none (message too large to verify)\r\n" in unsigned
    auth.close()


async def test_submission_only_filters_and_lmtp_is_untouched(settings: MailAuthSettings, blobs: CountingBlobs) -> None:
    auth = make(settings)
    submitted = await write(auth.spool(blobs, HEAD, listener="submission", authenticated=True, spf=None), MESSAGE,
                            blobs)  # fmt: skip
    assert submitted == HEAD + MESSAGE.split(b"\r\n", 1)[1]
    lmtp = auth.spool(blobs, HEAD, listener="lmtp", authenticated=False, spf=None)
    assert isinstance(lmtp, Spool)
    assert await write(lmtp, MESSAGE, blobs) == HEAD + MESSAGE
    auth.close()


async def test_dkim_off_still_records_spf(settings: MailAuthSettings, blobs: CountingBlobs) -> None:
    auth = make(settings, dkim_verify_enabled=False)
    stored = await write(auth.spool(blobs, HEAD, listener="mx", authenticated=False, spf=SPF_PASS), MESSAGE, blobs)
    assert b"Authentication-Results: mx.example.test;\r\n\tspf=pass" in stored
    assert b"dkim=" not in stored.split(b"\r\n\r\n")[0].replace(b"dkim=pass header.d=bank", b"")
    assert blobs.streams == 1
    auth.close()


async def test_abort_discards(settings: MailAuthSettings, blobs: CountingBlobs) -> None:
    auth = make(settings, dkim_verify_max_bytes=10)
    for verify in (True, False):
        spool = auth.spool(blobs, HEAD, listener="mx", authenticated=False, spf=None)
        await spool.add(MESSAGE if verify else b"x")
        await spool.abort()
    auth.close()


async def test_mail_from_rate_limits(settings: MailAuthSettings, dns_server: DnsServer) -> None:
    auth = make(settings, message_rate_per_minute=2, account_message_rate_per_minute=1, spf_enabled=False)
    sender = Address("a", "b.test")

    async def mail(peer: str, account: str | None = None, listener: str = "submission") -> int | None:
        verdict = await auth.check_mail_from(listener=listener, peer=peer, helo="h", reverse_path=sender,
                                             account=account)  # fmt: skip
        return None if verdict.reply is None else verdict.reply.code

    assert [await mail("192.0.2.1"), await mail("192.0.2.1"), await mail("192.0.2.1")] == [None, None, 450]
    assert await mail("192.0.2.2") is None, "another address is unaffected"
    assert await mail("192.0.2.3", "alice@example.test") is None
    refused = await auth.check_mail_from(listener="submission", peer="192.0.2.4", helo="h", reverse_path=sender,
                                         account="alice@example.test")  # fmt: skip
    assert refused.reply is not None and (refused.reply.code, refused.reply.enhanced) == (450, "4.7.1")
    assert "account" in refused.reply.text
    assert all([await mail("192.0.2.9", listener="lmtp") is None for _ in range(5)]), "LMTP is not limited"
    auth.close()


def test_connection_rate(settings: MailAuthSettings) -> None:
    auth = make(settings, connection_rate_per_minute=3)
    assert [auth.allow_connection("mx", "192.0.2.1") for _ in range(4)] == [True, True, True, False]
    assert auth.allow_connection("mx", "192.0.2.2")
    assert auth.allow_connection("lmtp", "192.0.2.1")
    auth.close()


async def test_spf_actions(settings: MailAuthSettings, dns_server: DnsServer) -> None:
    dns_server.txt("reject.spf.test", "v=spf1 -all")
    dns_server.drop("defer.spf.test")
    record_only = make(settings)
    strict = make(settings, spf_fail_action=SpfFailAction.REJECT, spf_temperror_action=SpfTempErrorAction.DEFER)
    fail, temp = Address("x", "reject.spf.test"), Address("x", "defer.spf.test")
    kwargs = {"listener": "mx", "peer": "192.0.2.1", "helo": "h.test", "account": None}
    recorded = await record_only.check_mail_from(reverse_path=fail, **kwargs)
    assert recorded.reply is None and recorded.spf is not None and recorded.spf.result == "fail"
    rejected = await strict.check_mail_from(reverse_path=fail, **kwargs)
    assert rejected.reply is not None and (rejected.reply.code, rejected.reply.enhanced) == (550, "5.7.23")
    deferred = await strict.check_mail_from(reverse_path=temp, **kwargs)
    assert deferred.reply is not None and (deferred.reply.code, deferred.reply.enhanced) == (451, "4.7.24")
    assert (await record_only.check_mail_from(reverse_path=temp, **kwargs)).reply is None
    submission = await strict.check_mail_from(reverse_path=fail, **{**kwargs, "listener": "submission",
                                                                      "account": "alice@example.test"})  # fmt: skip
    assert submission.reply is None and submission.spf is None, "submission is never SPF-checked"
    record_only.close()
    strict.close()


async def test_memory_budget_is_shared_and_given_back(settings: MailAuthSettings, blobs: CountingBlobs) -> None:
    auth = make(settings, dkim_verify_memory_bytes=len(MESSAGE) + 10)
    first = auth.spool(blobs, HEAD, listener="mx", authenticated=False, spf=None)
    second = auth.spool(blobs, HEAD, listener="mx", authenticated=False, spf=None)
    await first.add(MESSAGE)
    await second.add(MESSAGE)  # the budget is spent by the first: this one streams
    assert auth.budget.used == len(MESSAGE)
    stored_second = await blobs.get((await second.finish(30)).digest)
    assert b"dkim=none (verification capacity exhausted)" in stored_second
    stored_first = await blobs.get((await first.finish(30)).digest)
    assert b"\tdkim=none\r\n" in stored_first
    assert auth.budget.used == 0
    third = auth.spool(blobs, HEAD, listener="mx", authenticated=False, spf=None)
    await third.add(MESSAGE)
    await third.abort()
    assert auth.budget.used == 0
    auth.close()
