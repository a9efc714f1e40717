"""Remembered clear-text logins against a real directory: a change of password or of the
enabled flag takes effect on the very next login, and failures are never remembered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from libs.bus import Bus
from libs.contracts import directory as contract
from tests.directory.conftest import Directory


@pytest.fixture
async def bus(directory: Directory) -> AsyncIterator[Bus]:
    bus = await Bus.open(directory.nats_url, name="test-client", timeout=10)
    yield bus
    await bus.close()


@pytest.fixture
def account(directory: Directory) -> str:
    domain = f"d{uuid.uuid4().hex[:10]}.test"
    with directory.client() as c:
        assert c.post("/domains", json={"name": domain}).status_code == 201
        assert c.post("/accounts", json={"address": f"dora@{domain}", "password": "first"}).status_code == 201
    return f"dora@{domain}"


async def login(bus: Bus, account: str, password: str) -> contract.AuthReply:
    request = contract.AuthRequest(mechanism="PLAIN", username=account, password=password, protocol="imap")
    return await bus.request(contract.RPC_AUTH, request, contract.AuthReply)


def cache_hits(directory: Directory) -> float:
    metrics = httpx.get(f"http://127.0.0.1:{directory.process.ops_port}/metrics").text
    line = next(
        (x for x in metrics.splitlines() if x.startswith('parley_directory_auth_cache_lookups_total{result="hit"}')),
        None,
    )
    return float(line.split()[-1]) if line else 0.0


async def test_repeated_login_is_remembered(bus: Bus, directory: Directory, account: str) -> None:
    assert (await login(bus, account, "first")).ok
    before = cache_hits(directory)
    assert (await login(bus, account, "first")).ok
    assert cache_hits(directory) == before + 1
    assert not (await login(bus, account, "wrong")).ok  # a miss, never a hit
    assert cache_hits(directory) == before + 1


async def test_password_change_applies_to_the_next_login(bus: Bus, directory: Directory, account: str) -> None:
    assert (await login(bus, account, "first")).ok
    assert (await login(bus, account, "first")).ok  # remembered
    with directory.client() as c:
        assert c.put(f"/accounts/{account}/password", json={"password": "second"}).status_code == 204
    old = await login(bus, account, "first")
    assert not old.ok and old.failure is contract.AuthFailure.INVALID
    assert (await login(bus, account, "second")).ok


async def test_disabling_applies_to_the_next_login(bus: Bus, directory: Directory, account: str) -> None:
    assert (await login(bus, account, "first")).ok
    with directory.client() as c:
        assert c.patch(f"/accounts/{account}", json={"enabled": False}).status_code == 200
    refused = await login(bus, account, "first")
    assert not refused.ok and refused.failure is contract.AuthFailure.DISABLED


async def test_wrong_password_after_a_remembered_login_still_fails(bus: Bus, account: str) -> None:
    assert (await login(bus, account, "first")).ok
    for _ in range(2):
        wrong = await login(bus, account, "firsT")
        assert not wrong.ok and wrong.failure is contract.AuthFailure.INVALID
    assert (await login(bus, account, "first")).ok
