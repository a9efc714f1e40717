"""The test infrastructure itself: ports, nats-server, PostgreSQL, database URLs.

Everything else in the suite stands on these fixtures, so they are checked
against the real servers: a message round trip and JetStream persistence
across a restart and a crash for NATS, queries and fresh databases for
PostgreSQL, and that nothing is left running or on disk afterwards.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.testing import postgres as postgres_module
from libs.testing.natsd import NatsServer
from libs.testing.ports import free_port, free_ports
from libs.testing.postgres import (
    ExternalPostgres,
    LocalPostgres,
    PostgresNotInstalled,
    PostgresServer,
    check_database_name,
    external_url_from,
)

pytestmark = pytest.mark.timeout(120)

NATS_TIMEOUT = 5.0


def _accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@asynccontextmanager
async def _connected(url: str) -> AsyncIterator[NatsClient]:
    """A client that fails fast instead of reconnecting, closed even if the test fails."""
    client = await nats.connect(url, connect_timeout=NATS_TIMEOUT, max_reconnect_attempts=0, allow_reconnect=False)
    try:
        yield client
    finally:
        await client.close()


def _stream_name() -> str:
    return f"TEST_{uuid.uuid4().hex[:12].upper()}"


# --- ports ----------------------------------------------------------------------


def test_free_port_can_be_bound_on_loopback() -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        pass


def test_free_ports_are_distinct() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8


# --- nats-server ----------------------------------------------------------------


async def test_nats_publish_reaches_subscriber(nats_server: NatsServer) -> None:
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    async with _connected(nats_server.url) as client:
        subscription = await client.subscribe("test.fixture.pinged")
        await client.publish("test.fixture.pinged", b"ping")
        message = await subscription.next_msg(timeout=NATS_TIMEOUT)
    assert message.data == b"ping"


async def test_jetstream_acknowledges_publish(nats_server: NatsServer) -> None:
    stream = _stream_name()
    async with _connected(nats_server.url) as client:
        jetstream = client.jetstream(timeout=NATS_TIMEOUT)
        await jetstream.add_stream(name=stream, subjects=[f"test.{stream.lower()}.>"])
        try:
            ack = await jetstream.publish(f"test.{stream.lower()}.written", b"one")
            assert (ack.stream, ack.seq) == (stream, 1)
        finally:
            await jetstream.delete_stream(stream)


async def _publish_to_new_stream(url: str, stream: str, payloads: list[bytes]) -> None:
    async with _connected(url) as client:
        jetstream = client.jetstream(timeout=NATS_TIMEOUT)
        await jetstream.add_stream(name=stream, subjects=[f"test.{stream.lower()}.>"])
        for payload in payloads:
            await jetstream.publish(f"test.{stream.lower()}.written", payload)


async def _stored_payloads(url: str, stream: str) -> list[bytes]:
    async with _connected(url) as client:
        jetstream = client.jetstream(timeout=NATS_TIMEOUT)
        info = await jetstream.stream_info(stream)
        count = info.state.messages
        return [(await jetstream.get_msg(stream, seq=seq)).data or b"" for seq in range(1, count + 1)]


async def test_jetstream_data_survives_restart(nats_server_factory: Callable[..., NatsServer]) -> None:
    server = nats_server_factory()
    stream, payloads = _stream_name(), [b"a", b"b", b"c"]
    await _publish_to_new_stream(server.url, stream, payloads)

    url_before = server.url
    server.stop()
    assert not _accepts_connections(server.port)
    server.start()

    assert server.url == url_before
    assert await _stored_payloads(server.url, stream) == payloads


async def test_jetstream_acknowledged_data_survives_crash(nats_server_factory: Callable[..., NatsServer]) -> None:
    server = nats_server_factory()
    stream, payloads = _stream_name(), [b"acked before the crash"]
    await _publish_to_new_stream(server.url, stream, payloads)

    server.kill()  # no shutdown flush: only sync_interval=always keeps the data
    server.start()

    assert await _stored_payloads(server.url, stream) == payloads


def test_nats_server_close_leaves_nothing_behind() -> None:
    server = NatsServer()
    try:
        server.start()
        workdir = server.workdir
        assert _accepts_connections(server.port)
    finally:
        server.close()
    assert not server.running
    assert not _accepts_connections(server.port)
    assert not workdir.exists()


# --- PostgreSQL -----------------------------------------------------------------


async def _scalar(url: str, sql: str) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


async def test_postgres_answers_select_one(postgres: PostgresServer) -> None:
    assert postgres.url.startswith("postgresql+asyncpg://")
    assert await _scalar(postgres.url, "select 1") == 1


async def test_postgres_creates_separate_fresh_databases(postgres: PostgresServer) -> None:
    names = [f"t_{uuid.uuid4().hex[:16]}" for _ in range(2)]
    first_url, second_url = (postgres.create_database(name) for name in names)
    try:
        assert first_url != second_url
        engine = create_async_engine(first_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text("create table marker (id integer)"))
        finally:
            await engine.dispose()
        assert await _scalar(first_url, "select count(*) from pg_tables where tablename = 'marker'") == 1
        assert await _scalar(second_url, "select count(*) from pg_tables where tablename = 'marker'") == 0
        assert await _scalar(second_url, "select current_database()") == names[1]
    finally:
        for name in names:
            postgres.drop_database(name)


async def test_external_postgres_creates_databases_through_given_url(postgres: PostgresServer) -> None:
    external = ExternalPostgres(postgres.admin_url.replace("+asyncpg", ""))
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = external.create_database(name)
    try:
        assert url.startswith("postgresql+asyncpg://")
        assert await _scalar(url, "select current_database()") == name
    finally:
        external.drop_database(name)


@pytest.mark.postgres
def test_local_postgres_close_leaves_nothing_behind() -> None:
    server = LocalPostgres()
    try:
        server.start()
        workdir = server.workdir
        assert _accepts_connections(server.port)
    finally:
        server.close()
    assert not _accepts_connections(server.port)
    assert not workdir.exists()


def test_missing_postgres_binaries_say_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(postgres_module, "DEBIAN_BINDIRS", str(tmp_path / "none" / "*" / "bin"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PostgresNotInstalled, match="Debian package `postgresql`"):
        postgres_module.find_postgres_bindir()


@pytest.mark.parametrize("name", ["", "1abc", 'x"; drop database postgres; --', "a-b", "a" * 64])
def test_database_names_outside_plain_identifiers_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_database_name(name)


def test_external_url_comes_only_from_a_non_empty_variable() -> None:
    assert external_url_from({}) is None
    assert external_url_from({"PARLEY_TEST_POSTGRES_URL": ""}) is None
    assert external_url_from({"PARLEY_TEST_POSTGRES_URL": "postgresql://h/db"}) == "postgresql://h/db"


# --- per-test databases and directories -----------------------------------------


async def test_database_url_is_fresh_and_writable(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("create table note (body text)"))
            await connection.execute(text("insert into note values ('kept')"))
        async with engine.connect() as connection:
            assert (await connection.execute(text("select body from note"))).scalar_one() == "kept"
    finally:
        await engine.dispose()


def test_tmp_data_dir_is_empty_and_private(tmp_data_dir: Path, tmp_path: Path) -> None:
    assert tmp_data_dir.is_dir()
    assert list(tmp_data_dir.iterdir()) == []
    assert tmp_data_dir.is_relative_to(tmp_path)
