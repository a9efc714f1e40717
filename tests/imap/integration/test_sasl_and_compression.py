"""AUTHENTICATE SCRAM-SHA-256 with SASL-IR, and COMPRESS=DEFLATE on a live session."""

from __future__ import annotations

import base64
import zlib

from libs.auth import scram
from tests.imap.integration.conftest import CAROL, PASSWORD, ImapSuite, RawClient


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


def _scram(client: RawClient, password: str) -> list[bytes]:
    client_first_bare = f"n={CAROL},r=clientnonce123"
    client.send(b"a1 AUTHENTICATE SCRAM-SHA-256 " + b64(f"n,,{client_first_bare}") + b"\r\n")
    challenge = client.line()
    assert challenge.startswith(b"+ "), challenge
    server_first = base64.b64decode(challenge[2:]).decode()
    fields = dict(part.split("=", 1) for part in server_first.split(","))
    assert fields["r"].startswith("clientnonce123")
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}"
    proof, signature = scram.client_proof(
        password, salt=base64.b64decode(fields["s"]), iterations=int(fields["i"]), auth_message=auth_message
    )
    client.send(b64(f"{without_proof},p={proof}") + b"\r\n")
    line = client.line()
    if not line.startswith(b"+ "):
        return [line]
    assert base64.b64decode(line[2:]).decode() == f"v={signature}"
    client.send(b"\r\n")
    return client.until_tagged(b"a1")


def test_authenticate_scram_sha_256(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    reply = _scram(client, PASSWORD)
    assert reply[-1].startswith(b"a1 OK [CAPABILITY"), reply
    assert client.command("a2 SELECT INBOX")[-1].startswith(b"a2 OK")
    client.close()


def test_authenticate_scram_with_a_wrong_password(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    reply = _scram(client, "wrong")
    assert reply[-1].startswith(b"a1 NO [AUTHENTICATIONFAILED]"), reply
    client.close()


def test_compress_deflate(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login(CAROL)
    assert client.command("c1 COMPRESS DEFLATE")[-1].startswith(b"c1 OK")
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    inflate = zlib.decompressobj(-15)

    def command(text: bytes) -> bytes:
        client.sock.sendall(deflate.compress(text + b"\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))
        out = b""
        tag = text.split(b" ", 1)[0]
        while b"\r\n" + tag + b" " not in b"\r\n" + out:
            out += inflate.decompress(client.sock.recv(65536))
        return out

    reply = command(b'c2 LIST "" INBOX')
    assert b'* LIST (\\HasNoChildren) "/" INBOX' in reply
    assert b"c2 OK" in reply
    assert b"c3 OK" in command(b"c3 SELECT INBOX")
    assert b"COMPRESSIONACTIVE" in command(b"c4 COMPRESS DEFLATE")
    client.close()
