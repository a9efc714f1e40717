"""The directory's bus endpoints and events, over a real NATS server."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from libs.auth import digest, scram
from libs.bus import Bus
from libs.contracts import directory as contract
from libs.contracts.errors import BadRequest, NotFound, Unavailable
from tests.directory.conftest import Directory


@pytest.fixture
async def bus(directory: Directory) -> AsyncIterator[Bus]:
    bus = await Bus.open(directory.nats_url, name="test-client", timeout=10)
    yield bus
    await bus.close()


@pytest.fixture
def domain(directory: Directory) -> str:
    """A fresh domain with alice (password s3cret), a disabled account, an alias, a forwarder and a group."""
    name = f"d{uuid.uuid4().hex[:10]}.test"
    with directory.client() as c:
        for path, body in (
            ("/domains", {"name": name, "aliases": [f"alias-{name}"]}),
            (
                "/accounts",
                {
                    "address": f"alice@{name}",
                    "password": "s3cret",
                    "quota_bytes": 5000,
                    "settings": {"sent_copy": True},
                },
            ),
            ("/accounts", {"address": f"bob@{name}", "password": "bobpw"}),
            ("/accounts", {"address": f"gone@{name}", "password": "gonepw", "enabled": False}),
            ("/aliases", {"address": f"al@{name}", "target": f"alice@{name}"}),
            ("/forwarders", {"address": f"fwd@{name}", "targets": [f"bob@{name}", "x@remote.test"]}),
            (
                "/groups",
                {"address": f"team@{name}", "members": [f"al@{name}", f"fwd@{name}", f"gone@{name}", f"loop@{name}"]},
            ),
            ("/aliases", {"address": f"loop@{name}", "target": f"team@{name}"}),
        ):
            reply = c.post(path, json=body)
            assert reply.status_code == 201, reply.text
    return name


async def resolve(bus: Bus, address: str) -> contract.ResolveReply:
    return await bus.request(contract.RPC_RESOLVE, contract.ResolveRequest(address=address), contract.ResolveReply)


async def auth(bus: Bus, **fields: object) -> contract.AuthReply:
    return await bus.request(contract.RPC_AUTH, contract.AuthRequest(**fields), contract.AuthReply)


async def test_resolve_follows_aliases_forwarders_and_groups(bus: Bus, domain: str) -> None:
    reply = await resolve(bus, f"TEAM@alias-{domain}")
    assert reply.status is contract.ResolveStatus.LOCAL
    assert reply.address == f"team@{domain}"
    assert reply.accounts == [f"alice@{domain}", f"bob@{domain}"]  # gone@ is disabled
    assert reply.remote == ["x@remote.test"]
    assert "loop" in reply.reason


async def test_resolve_statuses(bus: Bus, domain: str) -> None:
    assert (await resolve(bus, f"alice+news@{domain}")).accounts == [f"alice@{domain}"]
    assert (await resolve(bus, f"nobody@{domain}")).status is contract.ResolveStatus.UNKNOWN
    assert (await resolve(bus, f"gone@{domain}")).status is contract.ResolveStatus.UNKNOWN
    assert (await resolve(bus, "someone@elsewhere.test")).status is contract.ResolveStatus.REMOTE
    assert (await resolve(bus, "not an address")).status is contract.ResolveStatus.INVALID
    assert (await resolve(bus, "\x00\xff@@")).status is contract.ResolveStatus.INVALID


async def test_plain_auth(bus: Bus, domain: str) -> None:
    ok = await auth(bus, mechanism="PLAIN", username=f"Alice@alias-{domain}", password="s3cret", protocol="imap")
    assert ok.ok and ok.account == f"alice@{domain}"
    bad = await auth(bus, mechanism="PLAIN", username=f"alice@{domain}", password="wrong")
    assert not bad.ok and bad.failure is contract.AuthFailure.INVALID and bad.account is None
    unknown = await auth(bus, mechanism="PLAIN", username=f"nobody@{domain}", password="s3cret")
    assert not unknown.ok and unknown.failure is contract.AuthFailure.INVALID
    disabled = await auth(bus, mechanism="PLAIN", username=f"gone@{domain}", password="gonepw")
    assert not disabled.ok and disabled.failure is contract.AuthFailure.DISABLED


async def test_failed_logins_are_throttled_per_account(bus: Bus, domain: str) -> None:
    # The fixture's service allows 5 failures per account per window.
    for _ in range(5):
        assert (
            await auth(bus, mechanism="PLAIN", username=f"bob@{domain}", password="guess")
        ).failure is contract.AuthFailure.INVALID
    throttled = await auth(bus, mechanism="PLAIN", username=f"bob@{domain}", password="bobpw")
    assert throttled.failure is contract.AuthFailure.THROTTLED and throttled.retry_after and throttled.retry_after > 0
    # Another account is not affected.
    assert (await auth(bus, mechanism="PLAIN", username=f"alice@{domain}", password="s3cret")).ok


async def test_scram_sha256_exchange(bus: Bus, domain: str) -> None:
    params = await bus.request(
        contract.RPC_SCRAM_PARAMS, contract.ScramParamsRequest(username=f"alice@{domain}"), contract.ScramParamsReply
    )
    salt = base64.b64decode(params.salt)
    auth_message = f"n=alice@{domain},r=abc,r=abcdef,s={params.salt},i={params.iterations},c=biws,r=abcdef"
    proof, server_signature = scram.client_proof(
        "s3cret", salt=salt, iterations=params.iterations, auth_message=auth_message
    )
    reply = await auth(
        bus,
        mechanism="SCRAM-SHA-256",
        username=f"alice@{domain}",
        scram={"auth_message": auth_message, "client_proof": proof},
    )
    assert reply.ok and reply.server_signature == server_signature
    wrong, _ = scram.client_proof("nope", salt=salt, iterations=params.iterations, auth_message=auth_message)
    reply = await auth(
        bus,
        mechanism="SCRAM-SHA-256",
        username=f"alice@{domain}",
        scram={"auth_message": auth_message, "client_proof": wrong},
    )
    assert not reply.ok and reply.server_signature is None


async def test_scram_params_do_not_reveal_unknown_users(bus: Bus, domain: str) -> None:
    async def params(user: str) -> contract.ScramParamsReply:
        return await bus.request(
            contract.RPC_SCRAM_PARAMS, contract.ScramParamsRequest(username=user), contract.ScramParamsReply
        )

    first, again = await params(f"ghost@{domain}"), await params(f"ghost@{domain}")
    assert first == again and len(base64.b64decode(first.salt)) == 16
    assert (await params(f"ghost2@{domain}")).salt != first.salt


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
@pytest.mark.parametrize("by_address", [False, True])
async def test_sip_digest(bus: Bus, domain: str, algorithm: str, by_address: bool) -> None:
    username = f"alice@{domain}" if by_address else "alice"
    fields = dict(nonce="abc123", method="REGISTER", uri=f"sip:{domain}", qop="auth", nc="00000001", cnonce="xyz")
    ha1 = digest.ha1(algorithm, username, domain, "s3cret")
    response = digest.expected_response(algorithm=algorithm, ha1_hex=ha1, **fields)
    good = await auth(
        bus,
        mechanism="DIGEST",
        username=username,
        digest={"realm": domain, "algorithm": algorithm, "response": response, **fields},
    )
    assert good.ok and good.account == f"alice@{domain}"
    wrong_realm = await auth(
        bus,
        mechanism="DIGEST",
        username=username,
        digest={"realm": f"alias-{domain}", "algorithm": algorithm, "response": response, **fields},
    )
    assert not wrong_realm.ok
    bad = await auth(
        bus,
        mechanism="DIGEST",
        username=username,
        digest={"realm": domain, "algorithm": algorithm, "response": "0" * len(response), **fields},
    )
    assert not bad.ok


async def test_account_get(bus: Bus, domain: str) -> None:
    info = await bus.request(
        contract.RPC_ACCOUNT_GET, contract.AccountGetRequest(address=f"ALICE@alias-{domain}"), contract.AccountInfo
    )
    assert info.address == f"alice@{domain}" and info.quota_bytes == 5000 and info.settings == {"sent_copy": True}
    with pytest.raises(NotFound):
        await bus.request(
            contract.RPC_ACCOUNT_GET, contract.AccountGetRequest(address=f"nobody@{domain}"), contract.AccountInfo
        )
    with pytest.raises(BadRequest):
        await bus.request(contract.RPC_ACCOUNT_GET, contract.AccountGetRequest(address="junk"), contract.AccountInfo)


async def test_malformed_requests_get_bad_request(bus: Bus, directory: Directory) -> None:
    for payload in (
        b"",
        b"\xff\x00junk",
        b"{}",
        json.dumps({"mechanism": "KERBEROS", "username": "x"}).encode(),
        json.dumps({"mechanism": "PLAIN", "username": "x" * 5000}).encode(),
    ):
        msg = await bus.nc.request(contract.RPC_AUTH, payload, timeout=5)
        assert msg.headers and msg.headers.get("Nats-Service-Error-Code") == "bad_request", payload
    # PLAIN without a password is a client mistake, not an internal error.
    with pytest.raises(BadRequest):
        await auth(bus, mechanism="PLAIN", username="a@b.test")


async def test_changes_are_published_as_events(bus: Bus, directory: Directory) -> None:
    seen: list[contract.DirectoryChanged] = []

    async def collect(msg) -> None:  # type: ignore[no-untyped-def]
        seen.append(contract.DirectoryChanged.model_validate_json(msg.data))

    sub = await bus.nc.subscribe(contract.EVENTS_ALL, cb=collect)
    await bus.nc.flush()
    name = f"d{uuid.uuid4().hex[:10]}.test"
    with directory.client() as c:
        c.post("/domains", json={"name": name})
        c.post("/accounts", json={"address": f"carol@{name}"})
        c.patch(f"/accounts/carol@{name}", json={"real_name": "Carol"})
        c.delete(f"/accounts/carol@{name}")
    for _ in range(50):
        if len([e for e in seen if e.domain == name]) >= 4:
            break
        await asyncio.sleep(0.05)
    await sub.unsubscribe()
    mine = [(e.subject(), e.name) for e in seen if e.domain == name]
    assert mine == [
        ("directory.domain.created", name),
        (contract.ACCOUNT_CREATED, f"carol@{name}"),
        (contract.ACCOUNT_CHANGED, f"carol@{name}"),
        (contract.ACCOUNT_DELETED, f"carol@{name}"),
    ]


async def test_request_without_owner_names_the_subject(bus: Bus) -> None:
    with pytest.raises(Unavailable, match="directory.rpc.nothing_here"):
        await bus.request("directory.rpc.nothing_here", contract.ResolveRequest(address="a@b.c"), contract.ResolveReply)


async def test_micro_service_is_discoverable(bus: Bus) -> None:
    msg = await bus.nc.request("$SRV.INFO.directory", b"", timeout=5)
    info = json.loads(msg.data)
    assert {e["subject"] for e in info["endpoints"]} >= {contract.RPC_AUTH, contract.RPC_RESOLVE}


def test_metrics_and_health(directory: Directory) -> None:
    base = f"http://127.0.0.1:{directory.process.ops_port}"
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{base}/readyz").json()["ready"] is True
    assert "parley_directory_rpc_seconds" in httpx.get(f"{base}/metrics").text
