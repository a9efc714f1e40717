"""The self-signed certificate `parley up` creates on first start."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from libs.tls import default_names, ensure_self_signed


def _load(cert_path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert_path.read_bytes())


def test_creates_a_key_only_the_owner_can_read(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    assert ensure_self_signed(cert, key) is True
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)  # a matching pair


def test_names_loopback_and_this_host_for_ten_years(tmp_path: Path) -> None:
    cert_path = tmp_path / "cert.pem"
    ensure_self_signed(cert_path, tmp_path / "key.pem")
    cert = _load(cert_path)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")} <= set(
        san.get_values_for_type(x509.IPAddress)
    )
    assert set(default_names()) - {"127.0.0.1", "::1"} <= set(san.get_values_for_type(x509.DNSName))
    assert cert.not_valid_after_utc - datetime.now(UTC) > timedelta(days=3640)


def test_keeps_an_existing_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed(cert, key)
    before = cert.read_bytes()
    assert ensure_self_signed(cert, key) is False
    assert cert.read_bytes() == before


def test_a_client_trusting_the_certificate_verifies_it(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed(cert, key, names=["localhost", "127.0.0.1"])
    client = ssl.create_default_context(cafile=str(cert))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client_in, client_out, server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(client_in, client_out, server_hostname="localhost")
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):  # a handshake in memory: ferry bytes until both sides are done
        done = 0
        for side in (client_side, server_side):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if done == 2:
            break
    assert client_side.getpeercert()["subjectAltName"]
