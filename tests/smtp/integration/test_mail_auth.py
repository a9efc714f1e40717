"""Sender checks in the real smtp process: SPF, DKIM and Authentication-Results in alice's INBOX,
DKIM keys from the directory signing a message that then verifies, and rate limits per client."""

from __future__ import annotations

import asyncio
import base64
import re
import smtplib
import socket
import uuid

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from libs.bus import Bus
from services.smtp._dkim_sign import DkimSigner, bus_key_source
from tests.smtp.integration.conftest import DOMAIN, HOSTNAME, PASSWORD, SmtpSuite
from tests.smtp.integration.test_mail_flow import no_verify, stored_with

pytestmark = pytest.mark.timeout(120)

ALICE = f"alice@{DOMAIN}"
MESSAGES_PER_MINUTE = 4
ACCOUNT_MESSAGES_PER_MINUTE = 3
CONNECTIONS_PER_MINUTE = 30
SMTP_ENV = {
    "PARLEY_SMTP_SPF_FAIL_ACTION": "reject",
    "PARLEY_SMTP_DNS_TIMEOUT": "0.5",
    "PARLEY_SMTP_DNS_LIFETIME": "1",
    "PARLEY_SMTP_MESSAGE_RATE_PER_MINUTE": str(MESSAGES_PER_MINUTE),
    "PARLEY_SMTP_ACCOUNT_MESSAGE_RATE_PER_MINUTE": str(ACCOUNT_MESSAGES_PER_MINUTE),
    "PARLEY_SMTP_CONNECTION_RATE_PER_MINUTE": str(CONNECTIONS_PER_MINUTE),
    "PARLEY_SMTP_DKIM_VERIFY_MAX_BYTES": "100000",
}
# Each test sends from its own loopback address, so the per-address limits of one never touch another.
_addresses = iter(f"127.0.0.{n}" for n in range(10, 250))


def message(marker: str, sender: str, *, body: bytes = b"Hello Alice\r\n") -> bytes:
    return (
        f"From: <{sender}>\r\nTo: <{ALICE}>\r\nSubject: {marker}\r\nMessage-ID: <{marker}@x.test>\r\n"
        "Date: Thu, 26 Nov 2026 06:00:00 +0000\r\n\r\n"
    ).encode() + body


def send(suite: SmtpSuite, sender: str, content: bytes, *, source: str | None = None) -> None:
    with smtplib.SMTP(
        "127.0.0.1", suite.mx_port, local_hostname="client.remote.test", source_address=(source or next(_addresses), 0)
    ) as client:
        assert client.sendmail(sender, [ALICE], content) == {}


# Our trace fields, then our Authentication-Results field (if any), then the message as sent.
TRACE = re.compile(
    rb"Return-Path: <[^>]*>\r\nReceived: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*"
    rb"(?P<authres>Authentication-Results: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)?"
)


def split(stored: bytes) -> tuple[str | None, bytes]:
    match = TRACE.match(stored)
    assert match is not None, stored[:600]
    field = match.group("authres")
    return (field.decode() if field else None), stored[match.end() :]


def authentication_results(stored: bytes) -> str:
    field, _ = split(stored)
    assert field is not None, stored[:600]
    return field


@pytest.fixture(scope="module")
def rsa_key(smtp_suite: SmtpSuite) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    smtp_suite.dns.txt("sel._domainkey.signed.test", "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())
    smtp_suite.dns.txt("signed.test", "v=spf1 ip4:127.0.0.0/8 -all")
    smtp_suite.dns.txt("soft.test", "v=spf1 ~all")
    smtp_suite.dns.txt("forged.test", "v=spf1 ip4:192.0.2.1 -all")
    smtp_suite.dns.drop("slow.test")
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_signed_message_from_an_spf_pass_sender_gets_both_results(smtp_suite: SmtpSuite, rsa_key: bytes) -> None:
    marker = f"auth-{uuid.uuid4().hex}"
    content = message(marker, "news@signed.test")
    forged = b"Authentication-Results: " + HOSTNAME.encode() + b"; dkim=pass header.d=bank.test\r\n"
    signed = dkim.sign(content, b"sel", b"signed.test", rsa_key, include_headers=[b"from", b"subject"])
    send(smtp_suite, "news@signed.test", forged + signed + content)
    (stored,) = stored_with(smtp_suite, ALICE, marker)
    results = authentication_results(stored)
    assert results.startswith(f"Authentication-Results: {HOSTNAME};\r\n\tspf=pass")
    assert "smtp.mailfrom=news@signed.test" in results
    assert "dkim=pass header.d=signed.test" in results and "header.s=sel" in results
    assert b"bank.test" not in stored, "a field from outside claiming our authserv-id is removed"
    assert split(stored)[1] == signed + content, "the message itself is stored as sent"


def test_tampered_message_fails_dkim_and_softfail_is_recorded(smtp_suite: SmtpSuite, rsa_key: bytes) -> None:
    marker = f"auth-{uuid.uuid4().hex}"
    content = message(marker, "x@soft.test")
    signed = dkim.sign(content, b"sel", b"signed.test", rsa_key)
    send(smtp_suite, "x@soft.test", signed + content.replace(b"Hello Alice", b"Hello Mallory"))
    results = authentication_results(stored_with(smtp_suite, ALICE, marker)[0])
    assert "spf=softfail" in results and "dkim=fail (body hash mismatch)" in results


def test_unsigned_message_and_unknown_domain(smtp_suite: SmtpSuite) -> None:
    marker = f"auth-{uuid.uuid4().hex}"
    send(smtp_suite, "someone@nowhere.test", message(marker, "someone@nowhere.test"))
    results = authentication_results(stored_with(smtp_suite, ALICE, marker)[0])
    assert "spf=none" in results and "dkim=none" in results


def test_dns_timeout_is_temperror_not_a_failure(smtp_suite: SmtpSuite) -> None:
    marker = f"auth-{uuid.uuid4().hex}"
    send(smtp_suite, "a@slow.test", message(marker, "a@slow.test"))
    assert "spf=temperror" in authentication_results(stored_with(smtp_suite, ALICE, marker)[0])


def test_large_message_is_streamed_with_dkim_policy(smtp_suite: SmtpSuite, rsa_key: bytes) -> None:
    marker = f"auth-{uuid.uuid4().hex}"
    content = message(marker, "news@signed.test", body=(b"y" * 990 + b"\r\n") * 200)
    signed = dkim.sign(content, b"sel", b"signed.test", rsa_key)
    send(smtp_suite, "news@signed.test", signed + content)
    results = authentication_results(stored_with(smtp_suite, ALICE, marker)[0])
    assert "spf=pass" in results and "dkim=policy (message too large to verify)" in results


def test_spf_fail_is_rejected_when_configured(smtp_suite: SmtpSuite) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_suite.mx_port, source_address=(next(_addresses), 0)) as client:
        client.ehlo("client.remote.test")
        code, text = client.mail("ceo@forged.test")
        assert (code, text[:6]) == (550, b"5.7.23")
        code, _ = client.mail("news@signed.test")
        assert code == 250, "the session goes on"


def test_key_from_the_directory_signs_and_the_signature_verifies(smtp_suite: SmtpSuite) -> None:
    with smtp_suite.admin() as admin:
        created = admin.post(f"/domains/{DOMAIN}/dkim", json={"selector": "parley", "algorithm": "rsa"})
        assert created.status_code == 201, created.text
        key = created.json()
    smtp_suite.dns.txt(key["dns_name"], key["dns_record"])
    smtp_suite.dns.txt(DOMAIN, "v=spf1 ip4:127.0.0.0/8 -all")
    marker = f"auth-{uuid.uuid4().hex}"
    content = message(marker, f"carol@{DOMAIN}")

    async def sign() -> bytes | None:
        bus = await Bus.open(smtp_suite.nats_url, name="outbound-test")
        try:
            return await DkimSigner(bus_key_source(bus)).sign(content, domain=DOMAIN)
        finally:
            await bus.close()

    header = asyncio.run(sign())
    assert header is not None
    send(smtp_suite, f"carol@{DOMAIN}", header + content)
    results = authentication_results(stored_with(smtp_suite, ALICE, marker)[0])
    assert f"dkim=pass header.d={DOMAIN}" in results and "header.s=parley" in results


def test_message_rate_limit_refuses_one_client_and_not_another(smtp_suite: SmtpSuite) -> None:
    busy, other = next(_addresses), next(_addresses)
    with smtplib.SMTP("127.0.0.1", smtp_suite.mx_port, source_address=(busy, 0)) as client:
        client.ehlo("client.remote.test")
        codes = []
        for _ in range(MESSAGES_PER_MINUTE + 2):
            codes.append(client.mail("someone@nowhere.test")[0])
            client.rset()
        assert codes[:MESSAGES_PER_MINUTE] == [250] * MESSAGES_PER_MINUTE
        code, text = client.mail("someone@nowhere.test")
        assert (code, text[:5]) == (450, b"4.7.1")
    marker = f"auth-{uuid.uuid4().hex}"
    send(smtp_suite, "someone@nowhere.test", message(marker, "someone@nowhere.test"), source=other)
    assert stored_with(smtp_suite, ALICE, marker)


def test_submission_is_not_checked_and_forged_results_are_removed(smtp_suite: SmtpSuite) -> None:
    marker = f"auth-{uuid.uuid4().hex}"
    forged = f"Authentication-Results: {HOSTNAME}; spf=pass\r\n".encode()
    with smtplib.SMTP("127.0.0.1", smtp_suite.submission_port, source_address=(next(_addresses), 0)) as client:
        client.starttls(context=no_verify())
        client.login(f"carol@{DOMAIN}", PASSWORD)
        client.sendmail(f"carol@{DOMAIN}", [ALICE], forged + message(marker, f"carol@{DOMAIN}"))
    (stored,) = stored_with(smtp_suite, ALICE, marker)
    field, rest = split(stored)
    assert field is None and b"Authentication-Results" not in rest


def test_connection_rate_limit_refuses_one_client_and_not_another(smtp_suite: SmtpSuite) -> None:
    busy, other = next(_addresses), next(_addresses)

    def greeting(source: str) -> bytes:
        with socket.create_connection(("127.0.0.1", smtp_suite.mx_port), timeout=10, source_address=(source, 0)) as s:
            return s.recv(200)

    greetings = [greeting(busy) for _ in range(CONNECTIONS_PER_MINUTE + 1)]
    assert all(g.startswith(b"220 ") for g in greetings[:CONNECTIONS_PER_MINUTE])
    assert greetings[-1].startswith(b"421 4.7.0 ")
    assert greeting(other).startswith(b"220 ")


def test_account_rate_limit_follows_the_account_across_addresses(smtp_suite: SmtpSuite) -> None:
    dave = f"dave@{DOMAIN}"
    codes: list[tuple[int, bytes]] = []
    for _ in range(ACCOUNT_MESSAGES_PER_MINUTE + 1):  # a new client address each time
        with smtplib.SMTP("127.0.0.1", smtp_suite.submission_port, source_address=(next(_addresses), 0)) as client:
            client.starttls(context=no_verify())
            client.login(dave, PASSWORD)
            code, text = client.mail(dave)
            codes.append((code, text))
    assert [c for c, _ in codes[:ACCOUNT_MESSAGES_PER_MINUTE]] == [250] * ACCOUNT_MESSAGES_PER_MINUTE
    code, text = codes[-1]
    assert (code, text[:5]) == (450, b"4.7.1") and b"account" in text
