"""DKIM keys of a domain: the admin API, and `directory.rpc.dkim_key` for the signer."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import dkim
import pytest
from cryptography.hazmat.primitives import serialization

from libs.bus import Bus
from libs.contracts import directory as contract
from tests.directory.conftest import Directory

MESSAGE = b"From: a@x.test\r\nTo: b@y.test\r\nSubject: s\r\n\r\nbody\r\n"


@pytest.fixture
async def bus(directory: Directory) -> AsyncIterator[Bus]:
    bus = await Bus.open(directory.nats_url, name="test-client", timeout=10)
    yield bus
    await bus.close()


@pytest.fixture
def domain(directory: Directory) -> str:
    name = f"k{uuid.uuid4().hex[:10]}.test"
    with directory.client() as c:
        assert c.post("/domains", json={"name": name, "aliases": [f"alias-{name}"]}).status_code == 201
    return name


async def active_key(bus: Bus, domain: str) -> contract.DkimKey | None:
    reply = await bus.request(contract.RPC_DKIM_KEY, contract.DkimKeyRequest(domain=domain), contract.DkimKeyReply)
    return reply.key


def verifies(key: contract.DkimKey, record: str) -> bool:
    """Sign with the key from the bus; verify against the record the admin API told us to publish."""
    if key.algorithm is contract.DkimAlgorithm.ED25519_SHA256:
        private = serialization.load_pem_private_key(key.private_key_pem.encode(), None)
        raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())  # fmt: skip
        secret, algorithm = base64.b64encode(raw), b"ed25519-sha256"
    else:
        secret, algorithm = key.private_key_pem.encode(), b"rsa-sha256"
    signed = dkim.sign(MESSAGE, key.selector.encode(), key.domain.encode(), secret, signature_algorithm=algorithm)
    return dkim.verify(signed + MESSAGE, dnsfunc=lambda _name, timeout=5: record.encode())


async def test_create_list_show_delete_and_the_bus(directory: Directory, bus: Bus, domain: str) -> None:
    assert await active_key(bus, domain) is None
    with directory.client() as c:
        created = c.post(f"/domains/{domain}/dkim", json={"selector": "s1"})
        assert created.status_code == 201, created.text
        rsa = created.json()
        assert (rsa["algorithm"], rsa["active"], rsa["signing"]) == ("rsa-sha256", True, True)
        assert rsa["dns_name"] == f"s1._domainkey.{domain}"
        assert rsa["dns_record"].startswith("v=DKIM1; k=rsa; p=MIIBIjAN")  # 2048-bit SubjectPublicKeyInfo
        assert "PRIVATE" not in created.text
        assert all(len(part) <= 257 for part in rsa["dns_zone_line"].split(" ") if part.startswith('"'))

        key = await active_key(bus, domain)
        assert key is not None and (key.domain, key.selector) == (domain, "s1")
        assert "PRIVATE" not in repr(key)
        assert verifies(key, rsa["dns_record"])

        ed = c.post(f"/domains/{domain}/dkim", json={"algorithm": "ed25519", "active": False}).json()
        assert ed["selector"].startswith("ed25519-") and not ed["signing"]
        assert (await active_key(bus, domain)).selector == "s1", "an inactive key does not sign"
        assert c.patch(f"/domains/{domain}/dkim/{ed['selector']}", json={"active": True}).json()["signing"]
        newest = await active_key(bus, domain)
        assert newest is not None and newest.algorithm is contract.DkimAlgorithm.ED25519_SHA256
        assert verifies(newest, ed["dns_record"])

        listed = c.get(f"/domains/{domain}/dkim").json()
        assert [k["selector"] for k in listed] == [ed["selector"], "s1"]
        assert c.get(f"/domains/{domain}/dkim/s1").json()["signing"] is False
        assert c.post(f"/domains/{domain}/dkim", json={"selector": "s1"}).status_code == 409
        assert c.post(f"/domains/{domain}/dkim", json={"selector": "bad selector"}).status_code == 400
        assert c.post(f"/domains/{domain}/dkim", json={"algorithm": "dsa"}).status_code == 400
        assert c.get(f"/domains/{domain}/dkim/nope").status_code == 404
        assert c.get("/domains/unknown.test/dkim").status_code == 404

        assert c.delete(f"/domains/{domain}/dkim/{ed['selector']}").status_code == 204
        assert (await active_key(bus, domain)).selector == "s1", "the older active key signs again"
        assert c.delete(f"/domains/{domain}/dkim/s1").status_code == 204
    assert await active_key(bus, domain) is None


async def test_alias_unknown_and_malformed_domains_have_no_key(directory: Directory, bus: Bus, domain: str) -> None:
    with directory.client() as c:
        assert c.post(f"/domains/{domain}/dkim", json={"algorithm": "ed25519"}).status_code == 201
    assert await active_key(bus, domain.upper()) is not None
    assert await active_key(bus, f"alias-{domain}") is None
    assert await active_key(bus, "nowhere.test") is None
    assert await active_key(bus, "[127.0.0.1]") is None
    assert await active_key(bus, "") is None
