"""A loopback DNS server and DKIM keys shared by the sender-check tests."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from libs.testing.dnsserver import DnsServer
from services.smtp.config_mailauth import MailAuthSettings


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


@pytest.fixture(scope="session")
def settings(dns_server: DnsServer) -> MailAuthSettings:
    return MailAuthSettings(dns_servers=dns_server.address, dns_timeout=0.3, dns_lifetime=0.6, spf_total_timeout=3)


class RsaKey:
    def __init__(self, bits: int = 1024) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        self.pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.record = "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


class Ed25519Key:
    def __init__(self) -> None:
        key = ed25519.Ed25519PrivateKey.generate()
        seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())  # fmt: skip
        self.seed_b64 = base64.b64encode(seed)
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.record = "v=DKIM1; k=ed25519; p=" + base64.b64encode(public).decode()


@pytest.fixture(scope="session")
def rsa_key() -> RsaKey:
    return RsaKey()


@pytest.fixture(scope="session")
def ed25519_key() -> Ed25519Key:
    return Ed25519Key()
