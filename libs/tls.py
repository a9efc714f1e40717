"""TLS material for the embedded suite: one self-signed certificate.

`parley up` needs a certificate before any service offers STARTTLS or
implicit TLS, and an operator trying the suite on one machine has no CA at
hand. So the first start creates a self-signed certificate valid for the
loopback names and this host's name; production points the services at a
real certificate instead. The key never leaves the data dir and is 0600.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from libs.log import get_logger

VALIDITY = timedelta(days=3650)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def default_names() -> list[str]:
    """Loopback names plus this host's name, which is what local clients dial."""
    names = list(LOOPBACK_NAMES)
    host = socket.gethostname().strip().lower()
    if host and host not in names and _is_ascii_dns_name(host):
        names.append(host)
    return names


def ensure_self_signed(cert_path: Path, key_path: Path, *, names: Iterable[str] | None = None) -> bool:
    """Create the certificate and key if either is missing; True if created.

    An existing pair is left alone: clients may have pinned or trusted it.
    """
    if cert_path.exists() and key_path.exists():
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build_certificate(key, list(names) if names is not None else default_names())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Key first: a certificate on disk then always has its key next to it.
    _write_atomically(key_path, key_pem, mode=0o600)
    _write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return True


def build_certificate(key: ec.EllipticCurvePrivateKey, names: list[str]) -> x509.Certificate:
    """A self-signed server certificate for `names` (DNS names and IP addresses)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Parley"),
            x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "localhost"),
        ]
    )
    now = datetime.now(UTC)
    public_key = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Backdated a little so a client whose clock lags still accepts it.
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        # An end-entity certificate, not a CA: OpenSSL-based clients accept it
        # as its own trust anchor (a CA file holding just this certificate),
        # while browsers refuse a CA certificate used as a server certificate.
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _is_ascii_dns_name(name: str) -> bool:
    labels = name.split(".")
    return name.isascii() and all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and not label.startswith("-") for label in labels
    )


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a PEM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)  # the umask may have narrowed or the file pre-existed
    os.replace(tmp, path)


def server_context(cert_path: Path, key_path: Path, *, service: str) -> ssl.SSLContext:
    """The TLS context a front end serves with (TLS 1.2 or newer); a self-signed pair is
    created first when neither file exists, as `parley up` does."""
    if ensure_self_signed(cert_path, key_path):
        get_logger().info(f"{service}.tls.self_signed_created", cert=str(cert_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
