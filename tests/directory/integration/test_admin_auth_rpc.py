"""`directory.rpc.admin_auth`: other services' admin APIs (cdr) check administrator logins over the bus."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from libs.bus import Bus
from libs.contracts import directory as contract
from libs.contracts.errors import Unauthorized
from tests.directory.conftest import Directory


@pytest.fixture
async def bus(directory: Directory) -> AsyncIterator[Bus]:
    bus = await Bus.open(directory.nats_url, name="test-client", timeout=10)
    yield bus
    await bus.close()


async def admin_auth(bus: Bus, user: str, password: str) -> contract.AdminPrincipal:
    request = contract.AdminAuthRequest(user=user, password=password, client_address="192.0.2.7")
    return await bus.request(contract.RPC_ADMIN_AUTH, request, contract.AdminPrincipal)


async def test_server_and_domain_administrators(directory: Directory, bus: Bus) -> None:
    domain = f"d{uuid.uuid4().hex[:10]}.test"
    with directory.client() as c:
        assert c.post("/domains", json={"name": domain}).status_code == 201
        body = {"address": f"boss@{domain}", "password": "bosspw", "domain_admin": True}
        assert c.post("/accounts", json=body).status_code == 201
        assert c.post("/accounts", json={"address": f"user@{domain}", "password": "userpw"}).status_code == 201

    server = await admin_auth(bus, directory.admin_user, directory.admin_password)
    assert (server.role, server.domain) == ("server", "")
    boss = await admin_auth(bus, f"boss@{domain}", "bosspw")
    assert (boss.name, boss.role, boss.domain) == (f"boss@{domain}", "domain", domain)
    for user, password in ((directory.admin_user, "wrong"), (f"boss@{domain}", "wrong"), (f"user@{domain}", "userpw")):
        with pytest.raises(Unauthorized):
            await admin_auth(bus, user, password)


def test_the_password_stays_out_of_repr() -> None:
    assert "hunter2" not in repr(contract.AdminAuthRequest(user="admin", password="hunter2"))
