"""The read cache in one process, against a real database (SQLite and PostgreSQL):
changes made on this replica show at once, another replica's show once its
event arrives, lost events are bounded by the TTL, and a group is a few queries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from libs.auth import digest
from libs.contracts.base import Event
from libs.contracts.directory import Action, AuthFailure, AuthRequest, DirectoryChanged, ObjectKind, ResolveStatus
from libs.db import create_engine, session_factory
from libs.db.migrations import upgrade_async
from libs.db.unit_of_work import UnitOfWork
from services.directory._authenticator import Authenticator
from services.directory._cache import DirectoryCache
from services.directory._changes import invalidating
from services.directory._credentials import credential_columns, credential_columns_async
from services.directory._queries import HotQueries, open_queries
from services.directory._reads import DirectoryReads
from services.directory._resolver import resolve
from services.directory._throttle import FailureWindow
from services.directory.models import Account, AddressEntry, Alias, Domain, Group, GroupMember

DOMAIN = "cache.test"
TTL = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingQueries(HotQueries):
    """The real queries, counted."""

    def __init__(self, inner: HotQueries) -> None:
        self.inner = inner
        self.count = 0

    async def entries(self, domain_id: int, locals_: Sequence[str]) -> list[Sequence[Any]]:
        self.count += 1
        return await self.inner.entries(domain_id, locals_)

    async def members(self, group_ids: Sequence[int]) -> list[Sequence[Any]]:
        self.count += 1
        return await self.inner.members(group_ids)

    async def credentials(self, domain_id: int, local: str) -> Sequence[Any] | None:
        self.count += 1
        return await self.inner.credentials(domain_id, local)

    async def account(self, domain_id: int, local: str) -> Sequence[Any] | None:
        return await self.inner.account(domain_id, local)

    async def all(self, sql: str) -> list[Sequence[Any]]:
        return await self.inner.all(sql)

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Replica:
    reads: DirectoryReads
    queries: CountingQueries
    authenticator: Authenticator


@dataclass
class World:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    replicas: list[Replica]

    async def replica(self, url: str) -> Replica:
        queries = CountingQueries(await open_queries(url))
        reads = DirectoryReads(queries, DirectoryCache(ttl=TTL, max_entries=1000, clock=self.clock))
        authenticator = Authenticator(
            reads,
            server_secret=b"secret",
            account_failures=FailureWindow(limit=100, window=60),
            client_failures=FailureWindow(limit=100, window=60),
            scram_iterations=4096,
        )
        replica = Replica(reads, queries, authenticator)
        self.replicas.append(replica)
        return replica


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    await upgrade_async("directory", database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    async with sessions() as session:
        domain = Domain(name=DOMAIN)
        session.add(domain)
        await session.flush()
        for local in ("alice", "bob", *(f"m{i}" for i in range(20))):
            entry = AddressEntry(domain_id=domain.id, local=local, kind="account")
            session.add(entry)
            await session.flush()
            # Group members only receive; argon2 for each of them would only slow the test.
            columns = (
                {}
                if local.startswith("m")
                else await credential_columns_async("old-pw", local=local, domain=DOMAIN, scram_iterations=4096)
            )
            session.add(Account(address_id=entry.id, **columns))
        alias = AddressEntry(domain_id=domain.id, local="al", kind="alias")
        group = AddressEntry(domain_id=domain.id, local="team", kind="group")
        session.add_all([alias, group])
        await session.flush()
        session.add(Alias(address_id=alias.id, target=f"alice@{DOMAIN}"))
        session.add(Group(address_id=group.id))
        await session.flush()
        session.add_all(GroupMember(group_id=group.id, member=f"m{i}@{DOMAIN}") for i in range(20))
        await session.commit()
    world = World(engine, sessions, Clock(), [])
    try:
        yield world
    finally:
        for replica in world.replicas:
            await replica.queries.close()
        await engine.dispose()


async def bus_down(_event: Event) -> None:
    raise ConnectionError("no bus")


async def change(world: World, replica: Replica, statement: Any, event: DirectoryChanged) -> None:
    """Commit `statement` through the admin API's unit of work on `replica`, with the bus down."""
    uow = UnitOfWork(world.sessions, invalidating(bus_down, replica.reads))
    async with uow() as work:
        await work.session.execute(statement)
        work.publish(event)


async def entry_id(world: World, local: str) -> int:
    async with world.sessions() as session:
        found = await session.scalar(select(AddressEntry.id).where(AddressEntry.local == local))
        assert found is not None
        return found


def digest_request(local: str, password: str) -> AuthRequest:
    fields = dict(nonce="n1", method="REGISTER", uri=f"sip:{DOMAIN}", qop="auth", nc="00000001", cnonce="c1")
    response = digest.expected_response(
        algorithm="SHA-256", ha1_hex=digest.ha1("SHA-256", local, DOMAIN, password), **fields
    )
    return AuthRequest(
        mechanism="DIGEST",
        username=local,
        digest={"realm": DOMAIN, "algorithm": "SHA-256", "response": response, **fields},
    )


def event(kind: ObjectKind, local: str) -> DirectoryChanged:
    return DirectoryChanged(kind=kind, action=Action.CHANGED, name=f"{local}@{DOMAIN}", domain=DOMAIN)


async def test_alias_change_shows_at_once_here_and_elsewhere_after_the_event(world: World, database_url: str) -> None:
    here, there = await world.replica(database_url), await world.replica(database_url)
    for replica in (here, there):
        assert (await resolve(replica.reads, f"al@{DOMAIN}")).accounts == [f"alice@{DOMAIN}"]
    alias_id = await entry_id(world, "al")
    retarget = update(Alias).where(Alias.address_id == alias_id).values(target=f"bob@{DOMAIN}")
    await change(world, here, retarget, event(ObjectKind.ALIAS, "al"))
    # The replica that made the change: at once, although its event never left.
    assert (await resolve(here.reads, f"al@{DOMAIN}")).accounts == [f"bob@{DOMAIN}"]
    # Another replica answers from its cache until the event reaches it ...
    assert (await resolve(there.reads, f"al@{DOMAIN}")).accounts == [f"alice@{DOMAIN}"]
    there.reads.changed(event(ObjectKind.ALIAS, "al"))
    # ... and from the database afterwards.
    assert (await resolve(there.reads, f"al@{DOMAIN}")).accounts == [f"bob@{DOMAIN}"]


async def test_disabled_account_is_refused_at_once(world: World, database_url: str) -> None:
    here = await world.replica(database_url)
    assert (await here.authenticator.authenticate(digest_request("alice", "old-pw"))).ok
    assert (await resolve(here.reads, f"alice@{DOMAIN}")).status is ResolveStatus.LOCAL
    alice = await entry_id(world, "alice")
    await change(
        world,
        here,
        update(Account).where(Account.address_id == alice).values(enabled=False),
        event(ObjectKind.ACCOUNT, "alice"),
    )
    reply = await here.authenticator.authenticate(digest_request("alice", "old-pw"))
    assert not reply.ok and reply.failure is AuthFailure.DISABLED
    assert (await resolve(here.reads, f"alice@{DOMAIN}")).status is ResolveStatus.UNKNOWN
    # Through the alias too: the alias's own cached entry did not change, alice's did.
    assert (await resolve(here.reads, f"al@{DOMAIN}")).status is ResolveStatus.UNKNOWN


async def test_password_change_takes_effect_at_once(world: World, database_url: str) -> None:
    here, there = await world.replica(database_url), await world.replica(database_url)
    for replica in (here, there):
        assert (await replica.authenticator.authenticate(digest_request("bob", "old-pw"))).ok
    bob = await entry_id(world, "bob")
    columns = credential_columns("new-pw", local="bob", domain=DOMAIN, scram_iterations=4096)
    new_password = update(Account).where(Account.address_id == bob).values(**columns)
    await change(world, here, new_password, event(ObjectKind.ACCOUNT, "bob"))
    assert not (await here.authenticator.authenticate(digest_request("bob", "old-pw"))).ok
    assert (await here.authenticator.authenticate(digest_request("bob", "new-pw"))).ok
    there.reads.changed(event(ObjectKind.ACCOUNT, "bob"))
    assert not (await there.authenticator.authenticate(digest_request("bob", "old-pw"))).ok
    assert (await there.authenticator.authenticate(digest_request("bob", "new-pw"))).ok


async def test_a_lost_event_is_bounded_by_the_ttl(world: World, database_url: str) -> None:
    here = await world.replica(database_url)
    assert (await resolve(here.reads, f"al@{DOMAIN}")).accounts == [f"alice@{DOMAIN}"]
    alias_id = await entry_id(world, "al")
    async with world.sessions() as session:  # a change whose event never arrives
        await session.execute(update(Alias).where(Alias.address_id == alias_id).values(target=f"bob@{DOMAIN}"))
        await session.commit()
    world.clock.now += TTL - 1
    assert (await resolve(here.reads, f"al@{DOMAIN}")).accounts == [f"alice@{DOMAIN}"]
    world.clock.now += 2
    assert (await resolve(here.reads, f"al@{DOMAIN}")).accounts == [f"bob@{DOMAIN}"]


async def test_domain_change_forgets_everything(world: World, database_url: str) -> None:
    here = await world.replica(database_url)
    assert (await here.authenticator.authenticate(digest_request("alice", "old-pw"))).ok
    await change(
        world,
        here,
        update(Domain).where(Domain.name == DOMAIN).values(enabled=False),
        DirectoryChanged(kind=ObjectKind.DOMAIN, action=Action.CHANGED, name=DOMAIN, domain=DOMAIN),
    )
    reply = await here.authenticator.authenticate(digest_request("alice", "old-pw"))
    assert not reply.ok and reply.failure is AuthFailure.DISABLED
    assert (await resolve(here.reads, f"alice@{DOMAIN}")).status is ResolveStatus.UNKNOWN


async def test_group_of_twenty_is_a_few_queries_then_none(world: World, database_url: str) -> None:
    here = await world.replica(database_url)
    reply = await resolve(here.reads, f"team@{DOMAIN}")
    assert reply.status is ResolveStatus.LOCAL
    assert reply.accounts == sorted(f"m{i}@{DOMAIN}" for i in range(20))
    assert here.queries.count <= 3  # the group, its members, their entries
    here.queries.count = 0
    assert (await resolve(here.reads, f"team@{DOMAIN}")).accounts == reply.accounts
    assert here.queries.count == 0
    # A member change reaches the group's cached member list through the group's event.
    group_id = await entry_id(world, "team")
    await change(
        world,
        here,
        GroupMember.__table__.delete().where(GroupMember.group_id == group_id, GroupMember.member == f"m0@{DOMAIN}"),
        event(ObjectKind.GROUP, "team"),
    )
    assert f"m0@{DOMAIN}" not in (await resolve(here.reads, f"team@{DOMAIN}")).accounts
