"""The directory as a farm: replicas share one database and one queue group,
survive a NATS restart, and the rest keep answering when one is killed."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest

from libs.auth import digest
from libs.bus import Bus
from libs.contracts import directory as contract
from libs.testing.ports import free_ports
from libs.testing.services import ServiceProcess

pytestmark = pytest.mark.timeout(180)


def directory_process(data_dir: Path, nats_url: str, database_url: str, **extra_env: str) -> ServiceProcess:
    admin_port, ops_port = free_ports(2)
    return ServiceProcess(
        "directory",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_DIRECTORY_DATABASE_URL": database_url,
            "PARLEY_DIRECTORY_ADMIN_PORT": str(admin_port),
            "PARLEY_DIRECTORY_OPS_PORT": str(ops_port),
            "PARLEY_DIRECTORY_ADMIN_PASSWORD": "farm-admin",
            **extra_env,
        },
        ops_port=ops_port,
        data_dir=data_dir,
    )


def admin_port(process: ServiceProcess) -> str:
    return process.env["PARLEY_DIRECTORY_ADMIN_PORT"]


async def resolve_many(bus: Bus, address: str, count: int) -> set[contract.ResolveStatus]:
    replies = await asyncio.gather(
        *(
            bus.request(contract.RPC_RESOLVE, contract.ResolveRequest(address=address), contract.ResolveReply)
            for _ in range(count)
        )
    )
    return {r.status for r in replies}


async def test_replicas_on_postgresql_share_state_and_survive_a_kill(postgres, nats_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    database_url = postgres.create_database(f"t_{uuid.uuid4().hex[:16]}")
    first = directory_process(tmp_path / "a", nats_server.url, database_url).start()
    second = directory_process(tmp_path / "b", nats_server.url, database_url).start()
    bus = await Bus.open(nats_server.url, name="farm-test", timeout=5)
    try:
        # Written through one replica's admin API ...
        with httpx.Client(base_url=f"http://127.0.0.1:{admin_port(first)}/api/v1", auth=("admin", "farm-admin")) as c:
            assert c.post("/domains", json={"name": "farm.test"}).status_code == 201
            assert c.post("/accounts", json={"address": "a@farm.test", "password": "pw"}).status_code == 201
        # ... read through the other's.
        with httpx.Client(base_url=f"http://127.0.0.1:{admin_port(second)}/api/v1", auth=("admin", "farm-admin")) as c:
            assert c.get("/accounts/a@farm.test").status_code == 200
        # Both answer the queue group; the micro service lists two instances.
        assert await resolve_many(bus, "a@farm.test", 50) == {contract.ResolveStatus.LOCAL}
        pings = await _ping_all(bus)
        assert len(pings) == 2
        first.kill()
        # NATS drops the dead replica's subscriptions once it sees the connection close;
        # from then on every request goes to the survivor.
        for _ in range(50):
            if len(await _ping_all(bus)) == 1:
                break
        assert len(await _ping_all(bus)) == 1
        assert await resolve_many(bus, "a@farm.test", 50) == {contract.ResolveStatus.LOCAL}
    finally:
        await bus.close()
        first.stop()
        second.stop()


async def _ping_all(bus: Bus) -> list[dict[str, object]]:
    inbox = bus.nc.new_inbox()
    replies: list[dict[str, object]] = []

    async def collect(msg) -> None:  # type: ignore[no-untyped-def]
        replies.append(json.loads(msg.data))

    sub = await bus.nc.subscribe(inbox, cb=collect)
    await bus.nc.publish("$SRV.PING.directory", b"", reply=inbox)
    await asyncio.sleep(0.5)
    await sub.unsubscribe()
    return replies


async def test_directory_reconnects_after_a_nats_restart(nats_server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    nats = nats_server_factory()
    process = directory_process(tmp_path, nats.url, f"sqlite+aiosqlite:///{tmp_path / 'd.sqlite3'}").start()
    try:
        nats.stop()
        await asyncio.sleep(1)
        nats.start()
        bus = await Bus.open(nats.url, name="restart-test", timeout=2)
        try:
            for _ in range(50):  # the service reconnects within its reconnect wait
                try:
                    reply = await bus.request(
                        contract.RPC_RESOLVE, contract.ResolveRequest(address="x@nowhere.test"), contract.ResolveReply
                    )
                    break
                except Exception:
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError("the directory did not come back on the bus after NATS restarted")
            assert reply.status is contract.ResolveStatus.REMOTE
        finally:
            await bus.close()
        assert httpx.get(f"http://127.0.0.1:{process.ops_port}/readyz").json()["ready"] is True
    finally:
        process.stop()


async def test_replicas_see_each_others_changes_through_events(
    database_url: str,
    nats_server,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """A change made through one replica reaches the other's read cache through its event.

    The cache lives long here (5 minutes), so only the event can make the second
    replica answer differently; both answer the queue group, so a batch of
    requests reaches both."""
    cache = {
        "PARLEY_DIRECTORY_CACHE_SECONDS": "300",
        # The polling below fails many logins on purpose; throttling is tested elsewhere.
        "PARLEY_DIRECTORY_AUTH_MAX_FAILURES_ACCOUNT": "100000",
        "PARLEY_DIRECTORY_AUTH_MAX_FAILURES_CLIENT": "100000",
    }
    first = started(directory_process(tmp_path / "a", nats_server.url, database_url, **cache))
    try:
        second = started(directory_process(tmp_path / "b", nats_server.url, database_url, **cache))
    except Exception:
        first.stop()
        raise
    bus = await Bus.open(nats_server.url, name="cache-test", timeout=10)
    admin = httpx.Client(base_url=f"http://127.0.0.1:{admin_port(first)}/api/v1", auth=("admin", "farm-admin"))
    try:
        for path, body in (
            ("/domains", {"name": "cache.test"}),
            ("/accounts", {"address": "a@cache.test", "password": "old-pw"}),
            ("/accounts", {"address": "b@cache.test", "password": "b-pw"}),
            ("/aliases", {"address": "al@cache.test", "target": "a@cache.test"}),
        ):
            assert admin.post(path, json=body).status_code == 201
        # Both replicas cache what they are asked.
        assert await resolved(bus, "al@cache.test") == {("a@cache.test",)}
        assert await digest_verdicts(bus, "a", "old-pw") == {True}

        assert admin.put("/aliases/al@cache.test", json={"target": "b@cache.test"}).status_code == 200
        await until(lambda: resolved(bus, "al@cache.test"), {("b@cache.test",)})

        assert admin.put("/accounts/a@cache.test/password", json={"password": "new-pw"}).status_code == 204
        await until(lambda: digest_verdicts(bus, "a", "old-pw"), {False})
        assert await digest_verdicts(bus, "a", "new-pw") == {True}

        assert admin.patch("/accounts/b@cache.test", json={"enabled": False}).status_code == 200
        await until(lambda: resolved(bus, "al@cache.test"), {()})
    finally:
        admin.close()
        await bus.close()
        first.stop()
        second.stop()


def started(process: ServiceProcess) -> ServiceProcess:
    """Started and ready; one at a time (the first runs the migrations), with room for a busy machine."""
    process.start(wait=False)
    try:
        process.wait_ready(timeout=120)
    except Exception:
        process.stop()
        raise
    return process


async def resolved(bus: Bus, address: str, count: int = 20) -> set[tuple[str, ...]]:
    replies = await asyncio.gather(
        *(
            bus.request(contract.RPC_RESOLVE, contract.ResolveRequest(address=address), contract.ResolveReply)
            for _ in range(count)
        )
    )
    return {tuple(r.accounts) for r in replies}


async def digest_verdicts(bus: Bus, user: str, password: str, count: int = 20) -> set[bool]:
    fields = dict(nonce="n1", method="REGISTER", uri="sip:cache.test", qop="auth", nc="00000001", cnonce="c1")
    response = digest.expected_response(
        algorithm="MD5", ha1_hex=digest.ha1("MD5", user, "cache.test", password), **fields
    )
    request = contract.AuthRequest(
        mechanism="DIGEST",
        username=user,
        client_address="192.0.2.1",
        digest={"realm": "cache.test", "algorithm": "MD5", "response": response, **fields},
    )
    replies = await asyncio.gather(*(bus.request(contract.RPC_AUTH, request, contract.AuthReply) for _ in range(count)))
    return {r.ok for r in replies}


async def until(ask, expected: object, *, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Ask until every replica answers `expected` (events travel asynchronously)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (answer := await ask()) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"still {answer}, expected {expected}"
        await asyncio.sleep(0.05)
