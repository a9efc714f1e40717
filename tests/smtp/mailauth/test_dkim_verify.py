"""DKIM verification (RFC 6376) of messages signed in the test, keys served by the loopback DNS."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import dkim
import pytest

from libs.testing.dnsserver import DnsServer
from services.smtp import _dns
from services.smtp._dkim_verify import DkimVerifier, has_signature
from services.smtp.config_mailauth import MailAuthSettings
from tests.smtp.mailauth.conftest import Ed25519Key, RsaKey

MESSAGE = (
    b"From: Sender <sender@signed.test>\r\nTo: alice@example.test\r\nSubject: hello\r\n"
    b"Date: Thu, 26 Nov 2026 06:00:00 +0000\r\nMessage-ID: <1@signed.test>\r\n\r\n"
    b"Hello Alice,\r\nthis is signed.\r\n"
)


def sign(message: bytes, key: RsaKey, *, domain: bytes = b"signed.test", selector: bytes = b"sel") -> bytes:
    return dkim.sign(message, selector, domain, key.pem, include_headers=[b"from", b"to", b"subject"]) + message


@pytest.fixture(scope="module")
def verifier(dns_server: DnsServer, settings: MailAuthSettings, rsa_key: RsaKey, ed25519_key: Ed25519Key):
    dns_server.txt("sel._domainkey.signed.test", rsa_key.record)
    dns_server.txt("ed._domainkey.signed.test", ed25519_key.record)
    dns_server.txt("bad._domainkey.signed.test", "v=DKIM1; k=rsa; p=bm90IGEga2V5")
    dns_server.txt("huge._domainkey.signed.test", "v=DKIM1; k=rsa; p=" + "A" * 20000)
    dns_server.drop("slow._domainkey.signed.test")
    executor = ThreadPoolExecutor(2)
    yield DkimVerifier(_dns.async_resolver(settings), executor, max_signatures=3)
    executor.shutdown()


async def test_unsigned_message_is_none(verifier: DkimVerifier) -> None:
    assert [r.result for r in await verifier.verify(MESSAGE)] == ["none"]
    assert not has_signature(MESSAGE)


async def test_rsa_signature_passes(verifier: DkimVerifier, rsa_key: RsaKey) -> None:
    signed = sign(MESSAGE, rsa_key)
    assert has_signature(signed)
    (result,) = await verifier.verify(signed)
    assert (result.result, result.domain, result.selector) == ("pass", "signed.test", "sel")
    clause = result.clause()
    assert clause.startswith("dkim=pass header.d=signed.test header.i=@signed.test header.s=sel header.b=")


async def test_ed25519_signature_passes(verifier: DkimVerifier, ed25519_key: Ed25519Key) -> None:
    signed = dkim.sign(MESSAGE, b"ed", b"signed.test", ed25519_key.seed_b64, signature_algorithm=b"ed25519-sha256")
    (result,) = await verifier.verify(signed + MESSAGE)
    assert result.result == "pass"


async def test_tampered_body_fails(verifier: DkimVerifier, rsa_key: RsaKey) -> None:
    signed = sign(MESSAGE, rsa_key).replace(b"this is signed", b"this is forged")
    (result,) = await verifier.verify(signed)
    assert result.result == "fail"
    assert "body hash mismatch" in result.clause()


async def test_tampered_signed_header_fails(verifier: DkimVerifier, rsa_key: RsaKey) -> None:
    signed = sign(MESSAGE, rsa_key).replace(b"Subject: hello", b"Subject: HELLO!")
    (result,) = await verifier.verify(signed)
    assert result.result == "fail"


async def test_each_signature_gets_a_result(verifier: DkimVerifier, rsa_key: RsaKey) -> None:
    once = sign(MESSAGE, rsa_key)
    twice = dkim.sign(once, b"missing", b"signed.test", rsa_key.pem) + once
    results = await verifier.verify(twice)
    assert [r.result for r in results] == ["permerror", "pass"]
    assert results[0].selector == "missing"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [("bad", "permerror"), ("huge", "permerror"), ("slow", "temperror"), ("nokey", "permerror")],
)
async def test_key_problems(verifier: DkimVerifier, rsa_key: RsaKey, selector: str, expected: str) -> None:
    signed = sign(MESSAGE, rsa_key, selector=selector.encode())
    (result,) = await verifier.verify(signed)
    assert result.result == expected, result


@pytest.mark.parametrize(
    "header",
    [
        b"DKIM-Signature: garbage\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=signed.test; s=sel\r\n",  # tags missing
        b"DKIM-Signature: v=1; a=rsa-sha256; d=signed.test; s=sel; h=from; bh=xx; b=yy; v=2\r\n",  # duplicate tag
        b"DKIM-Signature: v=1; a=md5; d=signed.test; s=sel; h=from; bh=xx; b=yy\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=signed.test; s=../x; h=from; bh=xx; b=yy\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=signed.test; s=sel; h=to; bh=xx; b=yy\r\n",  # From not signed
        b"DKIM-Signature: v=1; a=rsa-sha256; d=signed.test; s=sel; h=from; bh=!!; b=!!\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=signed.test; s=sel; h=from; bh=; b=; l=x\r\n",
        b"DKIM-Signature: \xff\xfe; d=\x00\r\n",
        b"DKIM-Signature:\r\n",
    ],
)
async def test_malformed_signature_is_an_error_result(verifier: DkimVerifier, header: bytes) -> None:
    (result,) = await verifier.verify(header + MESSAGE)
    assert result.result in ("permerror", "fail"), result
    result.clause()  # always printable


async def test_signature_count_is_bounded(verifier: DkimVerifier) -> None:
    headers = b"DKIM-Signature: garbage\r\n" * 50
    results = await verifier.verify(headers + MESSAGE)
    assert len(results) == 3


async def test_message_without_body_separator(verifier: DkimVerifier, rsa_key: RsaKey) -> None:
    results = await verifier.verify(b"DKIM-Signature: v=1\r\nSubject: x")
    assert [r.result for r in results] == ["permerror"]
