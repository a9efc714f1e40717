"""DKIM signing keys of our domains: making them, the DNS record to publish, and serving the active one.

Keys are made here (RSA 2048-bit or Ed25519, RFC 8463) and stored with the
domain; administrators publish the TXT record `<selector>._domainkey.<domain>`
that `dns_record` prints. The SMTP signer asks `directory.rpc.dkim_key` for
the domain's newest active key. That reply carries the private key: the one
secret that crosses the bus, because the signer needs it (docs/architecture.md).
"""

from __future__ import annotations

import base64
import re

import idna
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy import bindparam, select

from libs.bus import Endpoint
from libs.contracts import directory as contract
from libs.db.reader import Reader
from services.directory._addresses import InvalidAddress, normalize_domain
from services.directory._reads import DirectoryReads
from services.directory.models import DkimKey

RSA_BITS = 2048
SELECTOR = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
ALGORITHMS = {"rsa": contract.DkimAlgorithm.RSA_SHA256, "ed25519": contract.DkimAlgorithm.ED25519_SHA256}


def generate_key(algorithm: contract.DkimAlgorithm) -> tuple[str, str]:
    """A new key pair: (private key as PKCS#8 PEM, public key as the base64 p= of the DNS record)."""
    if algorithm is contract.DkimAlgorithm.ED25519_SHA256:
        private: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey = ed25519.Ed25519PrivateKey.generate()
        # RFC 8463 section 4.2: p= is the raw 32-byte public key.
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        # RFC 6376 section 3.6.1: p= is the DER SubjectPublicKeyInfo.
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, base64.b64encode(public).decode()


def ace(domain: str) -> str:
    """The ASCII (A-label) form of one of our canonical domain names, as DNS and d= need it."""
    return idna.encode(domain, uts46=True).decode("ascii")


def dns_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{ace(domain)}"


def dns_record(algorithm: str, public_key: str) -> str:
    """The TXT record's text (RFC 6376 section 3.6.1)."""
    kind = "ed25519" if algorithm == contract.DkimAlgorithm.ED25519_SHA256 else "rsa"
    return f"v=DKIM1; k={kind}; p={public_key}"


def dns_zone_line(selector: str, domain: str, algorithm: str, public_key: str) -> str:
    """The record in zone-file syntax, split into quoted strings of at most 255 characters."""
    text = dns_record(algorithm, public_key)
    strings = " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))
    return f"{dns_name(selector, domain)}. IN TXT ( {strings} )"


_ACTIVE_KEY = (
    select(DkimKey.selector, DkimKey.algorithm, DkimKey.private_key)
    .where(DkimKey.domain_id == bindparam("domain_id"), DkimKey.active.is_(True))
    .order_by(DkimKey.created_at.desc(), DkimKey.id.desc())
    .limit(1)
)


class DkimKeys:
    """The `directory.rpc.dkim_key` endpoint."""

    def __init__(self, reads: DirectoryReads, reader: Reader) -> None:
        self._reads = reads
        self._reader = reader

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("dkim_key", contract.RPC_DKIM_KEY, contract.DkimKeyRequest, self.dkim_key)]

    async def dkim_key(self, request: contract.DkimKeyRequest) -> contract.DkimKeyReply:
        try:
            name = normalize_domain(request.domain)
        except InvalidAddress:
            return contract.DkimKeyReply()
        domain = await self._reads.domain(name)
        # Only a domain's own name: a signature for an alias domain must carry d=alias to align (DMARC).
        if domain is None or domain.name != name or not domain.enabled:
            return contract.DkimKeyReply()
        row = await self._reader.first(_ACTIVE_KEY, {"domain_id": domain.id})
        if row is None:
            return contract.DkimKeyReply()
        return contract.DkimKeyReply(
            key=contract.DkimKey(
                domain=ace(domain.name),
                selector=row.selector,
                algorithm=contract.DkimAlgorithm(row.algorithm),
                private_key_pem=row.private_key,
            )
        )
