"""Durability and concurrency with real processes: kill -9 in the middle of a
stream of deliveries, and two storage replicas changing one mailbox at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from libs.contracts import storage as contract
from libs.contracts.errors import ServiceError
from libs.testing.natsd import NatsServer
from tests.storage.client import StorageClient, storage_client
from tests.storage.conftest import StorageSuite, blob_env_for, database_for, start_directory, start_storage

pytestmark = pytest.mark.timeout(240)

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module", params=DATABASES)
def farm(
    request: pytest.FixtureRequest, nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StorageSuite]:
    """A directory and one storage process the tests may kill and restart, or double."""
    data_dir = tmp_path_factory.mktemp("durability")
    blob_env = blob_env_for("local", data_dir, request)
    database_url = database_for(request.param, data_dir, request)
    directory, admin_url = start_directory(data_dir / "directory", nats_server.url)
    storage = start_storage(data_dir, nats_server.url, database_url, blob_env)
    suite = StorageSuite(
        nats_url=nats_server.url, blob_env=blob_env, storage=storage, directory=directory, admin_url=admin_url,
        database=database_url, backend="local", data_dir=data_dir,
    )  # fmt: skip
    try:
        yield suite
    finally:
        suite.storage.stop()
        for extra in suite.extra.get("replicas", []):  # type: ignore[union-attr]
            extra.stop()
        directory.stop()


def message(n: int) -> bytes:
    return f"From: load@example.net\r\nSubject: message {n}\r\nMessage-ID: <{n}@load>\r\n\r\nbody {n}\r\n".encode()


async def _deliver_stream(s: StorageClient, account: str, acked: dict[int, int], stop: asyncio.Event) -> None:
    """Deliver numbered messages one after another until told to stop, like a
    sender that carries on through an outage: a failed attempt moves on."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            reply = await s.deliver(message(n), account)
        except ServiceError:
            await asyncio.sleep(0.05)  # no reply (the service died): the message may or may not be stored
            continue
        if reply.results[0].ok:
            acked[n] = reply.results[0].uid  # type: ignore[assignment]


async def _until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.02)


async def test_kill_9_loses_no_acknowledged_message(farm: StorageSuite) -> None:
    account = farm.new_account()
    acked: dict[int, int] = {}
    stop = asyncio.Event()
    async with storage_client(farm) as s:
        s.bus.timeout = 3
        stream = asyncio.create_task(_deliver_stream(s, account, acked, stop))
        await _until(lambda: len(acked) >= 40, 60, "deliveries started")
        farm.storage.kill()  # SIGKILL, mid-stream
        killed_after = len(acked)
        await asyncio.sleep(0.5)
        farm.storage.start()  # same database, same blobs
        await _until(lambda: len(acked) >= killed_after + 40, 120, "deliveries resumed after the restart")
        stop.set()
        await stream

        listed = await s.uids(account)
        assert set(acked.values()) <= set(listed.uids), "every acknowledged message is still there"
        assert listed.uids == sorted(set(listed.uids))
        metas = await s.fetch(account, items=["blob", "size", "headers"])
        for meta in metas.messages:  # nothing half-written is visible: every listed message has its body
            assert await s.blobs.size(meta.blob) == meta.size
        subjects = {m.headers["subject"] for m in metas.messages}
        assert {f"message {n}" for n in acked} <= subjects
        quota = await s.call(contract.QuotaRequest(account=account), contract.QuotaReply)
        assert quota.messages_used == len(listed.uids)
        assert quota.bytes_used == sum(m.size for m in metas.messages)


async def test_two_replicas_changing_one_mailbox(farm: StorageSuite) -> None:
    replica = start_storage(Path(farm.data_dir), farm.nats_url, farm.database, farm.blob_env)
    farm.extra.setdefault("replicas", []).append(replica)  # type: ignore[union-attr]
    account = farm.new_account()
    assigned: list[int] = []
    modseqs: list[int] = []

    async def deliverer(s: StorageClient, tag: str) -> None:
        for n in range(40):
            reply = await s.deliver(message(hash((tag, n)) % 10**9), account)
            assigned.append(reply.results[0].uid)  # type: ignore[arg-type]

    async def flagger(s: StorageClient) -> None:
        for n in range(40):
            flag = ["\\Deleted"] if n % 3 == 0 else ["$seen" + uuid.uuid4().hex[:4]]
            reply = await s.call(
                contract.StoreFlagsRequest(account=account, mailbox="INBOX", uids=[contract.UidRange(first=1)],
                                           mode="add", flags=flag),
                contract.StoreFlagsReply,
            )  # fmt: skip
            modseqs.append(reply.highest_modseq)

    async def expunger(s: StorageClient) -> None:
        for _ in range(15):
            reply = await s.call(contract.ExpungeRequest(account=account, mailbox="INBOX"), contract.ExpungeReply)
            modseqs.append(reply.highest_modseq)
            await asyncio.sleep(0.05)

    async with storage_client(farm) as a, storage_client(farm) as b:
        await asyncio.gather(deliverer(a, "a"), deliverer(b, "b"), flagger(a), flagger(b), expunger(a), expunger(b))
        assert len(assigned) == len(set(assigned)) == 80, "no UID was handed out twice"
        final = await a.uids(account)
        assert final.uidnext == max(assigned) + 1
        assert final.highest_modseq >= max(modseqs)
        vanished = await a.call(
            contract.VanishedRequest(account=account, mailbox="INBOX", since_modseq=0), contract.VanishedReply
        )
        assert set(vanished.uids).isdisjoint(final.uids)
        assert set(vanished.uids) | set(final.uids) == set(assigned), "every UID is either present or expunged"
        await a.deliver(message(10**9 + 1), account)
        after = await a.uids(account)
        assert after.uids[-1] > max(assigned), "a UID is never reused after expunge"
