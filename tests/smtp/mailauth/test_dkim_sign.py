"""Signing round trip: sign with the domain's key, verify against the public key served by the loopback DNS."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from libs.contracts import directory
from libs.testing.dnsserver import DnsServer
from services.smtp import _dns
from services.smtp._dkim_sign import DkimSigner, SigningUnavailable, author_domain, sign_with_key
from services.smtp._dkim_verify import DkimVerifier
from services.smtp.config_mailauth import MailAuthSettings

MESSAGE = (
    b"From: Alice <alice@sign.test>\r\nTo: bob@remote.test\r\nCc: carol@remote.test\r\nSubject: Hello\r\n"
    b"Date: Thu, 26 Nov 2026 06:00:00 +0000\r\nMessage-ID: <1@sign.test>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nX-Unsigned: yes\r\n\r\nHi Bob,\r\n\r\n-- \r\nAlice\r\n"
)


def pem(private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def record(private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> str:
    if isinstance(private, ed25519.Ed25519PrivateKey):
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def keys(dns_server: DnsServer) -> dict[str, directory.DkimKey]:
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_private = ed25519.Ed25519PrivateKey.generate()
    dns_server.txt("r1._domainkey.sign.test", record(rsa_private))
    dns_server.txt("e1._domainkey.ed.sign.test", record(ed_private))
    return {
        "sign.test": directory.DkimKey(domain="sign.test", selector="r1", algorithm="rsa-sha256",
                                       private_key_pem=pem(rsa_private)),
        "ed.sign.test": directory.DkimKey(domain="ed.sign.test", selector="e1", algorithm="ed25519-sha256",
                                          private_key_pem=pem(ed_private)),
    }  # fmt: skip


@pytest.fixture
def verifier(settings: MailAuthSettings) -> DkimVerifier:
    return DkimVerifier(_dns.async_resolver(settings), ThreadPoolExecutor(1))


class Source:
    def __init__(self, keys: dict[str, directory.DkimKey]) -> None:
        self.keys = keys
        self.asked: list[str] = []
        self.down = False

    async def __call__(self, domain: str) -> directory.DkimKey | None:
        self.asked.append(domain)
        if self.down:
            raise SigningUnavailable("directory down")
        return self.keys.get(domain)


@pytest.mark.parametrize("domain", ["sign.test", "ed.sign.test"])
async def test_signature_verifies_against_the_published_key(
    keys: dict[str, directory.DkimKey], verifier: DkimVerifier, domain: str
) -> None:
    signer = DkimSigner(Source(keys))
    message = MESSAGE.replace(b"alice@sign.test", f"alice@{domain}".encode())
    header = await signer.sign(message, domain=domain)
    assert header is not None and header.startswith(b"DKIM-Signature: ") and header.endswith(b"\r\n")
    assert b"\n" not in header.replace(b"\r\n", b"")
    (result,) = await verifier.verify(header + message)
    assert (result.result, result.domain) == ("pass", domain)
    (tampered,) = await verifier.verify(header + message.replace(b"Subject: Hello", b"Subject: Money"))
    assert tampered.result == "fail"
    (body,) = await verifier.verify(header + message.replace(b"Hi Bob", b"Hi Eve"))
    assert body.result == "fail"


async def test_the_usual_header_set_is_signed_and_from_oversigned(keys: dict[str, directory.DkimKey]) -> None:
    header = sign_with_key(MESSAGE, keys["sign.test"])
    tags = dict(t.strip().split("=", 1) for t in header.decode().split(":", 1)[1].split(";") if "=" in t)
    signed = [h.strip() for h in tags["h"].replace("\r\n", "").replace("\t", "").split(":")]
    assert signed.count("from") == 2
    for name in ("to", "cc", "subject", "date", "message-id", "mime-version", "content-type"):
        assert name in signed
    assert "x-unsigned" not in signed
    assert (tags["c"], tags["a"], tags["d"], tags["s"]) == ("relaxed/relaxed", "rsa-sha256", "sign.test", "r1")
    # relaxed canonicalization survives refolding and trailing white space on the way
    assert dkim.verify(
        header + MESSAGE.replace(b"Subject: Hello", b"Subject:   Hello ").replace(b"Alice\r\n", b"Alice  \r\n"),
        dnsfunc=lambda _name, timeout=5: record_text(keys),
    )


def record_text(keys: dict[str, directory.DkimKey]) -> bytes:
    private = serialization.load_pem_private_key(keys["sign.test"].private_key_pem.encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return record(private).encode()


async def test_no_key_is_none_and_answers_are_cached(keys: dict[str, directory.DkimKey]) -> None:
    now = [0.0]
    source = Source(keys)
    signer = DkimSigner(source, cache_seconds=60, clock=lambda: now[0])
    assert await signer.sign(MESSAGE, domain="unsigned.test") is None
    assert await signer.sign(MESSAGE, domain="UNSIGNED.test.") is None
    assert await signer.sign(MESSAGE, domain="sign.test") is not None
    assert await signer.sign(MESSAGE, domain="sign.test") is not None
    assert source.asked == ["unsigned.test", "sign.test"]
    now[0] = 61
    await signer.sign(MESSAGE, domain="sign.test")
    assert source.asked[-1] == "sign.test" and len(source.asked) == 3
    signer.forget()
    source.down = True
    with pytest.raises(SigningUnavailable):
        await signer.sign(MESSAGE, domain="sign.test")
    assert await signer.sign(MESSAGE, domain="") is None


async def test_broken_key_gives_none(keys: dict[str, directory.DkimKey]) -> None:
    broken = directory.DkimKey(domain="sign.test", selector="x", algorithm="rsa-sha256", private_key_pem="nonsense")
    signer = DkimSigner(Source({"sign.test": broken}))
    assert await signer.sign(MESSAGE, domain="sign.test") is None


@pytest.mark.parametrize(
    ("message", "domain"),
    [
        (MESSAGE, "sign.test"),
        (b'From: "Doe, J" <j@Example.COM>, other@x.test\r\n\r\nbody', "example.com"),
        (b"Subject: none\r\n\r\nbody", None),
        (b"From: not an address\r\n\r\n", None),
        (b"From: =?utf-8?q?J=C3=BCrgen?= <j@b\xc3\xbccher.test>\r\n\r\n", "bücher.test"),
    ],
)
def test_author_domain(message: bytes, domain: str | None) -> None:
    assert author_domain(message) == domain
