"""The shared server transport (libs.net) over real loopback sockets.

A tiny echo line protocol plays the front end: `+ hello` on connect, `= <line>`
for each line, and a few verbs that exercise the transport: STARTTLS, SLOW
(a command that takes a while), FLOOD (writes to a client that never reads),
HOLD (stops reading), XOR (layers a byte-stream filter) and QUIT.

Every test runs on asyncio's own event loop and on uvloop, which the services
run on in production (`libs.ops.runner`): their transports differ in detail.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvloop

from libs.net import Connection, FrontEnd, Listener, ReadTimeout, Server, TlsFailed, WriteTimeout
from libs.tls import ensure_self_signed


@dataclass(frozen=True)
class EchoConfig:
    read_timeout: float = 5.0
    write_timeout: float = 5.0
    tls_handshake_timeout: float = 5.0
    slow_seconds: float = 0.5
    starttls_delay: float = 0.0  # a pause before the upgrade, like a policy lookup


class RunningXor:
    """A stateful filter (like deflate): each byte is mixed with its position in the stream."""

    def __init__(self) -> None:
        self.received = 0
        self.sent = 0

    def decode(self, data: bytes) -> bytes:
        out = bytes(b ^ ((self.received + i) % 251) for i, b in enumerate(data))
        self.received += len(data)
        return out

    def encode(self, data: bytes) -> bytes:
        out = bytes(b ^ ((self.sent + i) % 251) for i, b in enumerate(data))
        self.sent += len(data)
        return out


@dataclass
class Echo(FrontEnd[EchoConfig]):
    events: list[str] = field(default_factory=list)
    refuse_all: bool = False
    discarded: list[int] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def check_connection(self, listener: Listener[EchoConfig], peer: str) -> bytes | None:
        return b"- go away\r\n" if self.refuse_all else None

    def too_many_connections(self, listener: Listener[EchoConfig], peer: str) -> bytes:
        self.events.append("too_many")
        return b"- too many connections\r\n"

    async def serve(self, connection: Connection[EchoConfig]) -> None:
        config = connection.listener.config
        self.events.append("served")
        try:
            await self._loop(connection, config)
        except ReadTimeout:
            self.events.append("read_timeout")
            await connection.write(b"- timeout\r\n", timeout=config.write_timeout)
        except WriteTimeout:
            self.events.append("write_timeout")
        except TlsFailed:
            self.events.append("tls_failed")
        except asyncio.CancelledError:
            self.events.append("cut")
            raise
        await connection.close()

    async def _loop(self, connection: Connection[EchoConfig], config: EchoConfig) -> None:
        await connection.write(b"+ hello\r\n", timeout=config.write_timeout)
        pending = b""
        while True:
            while b"\r\n" in pending:
                line, pending = pending.split(b"\r\n", 1)
                match line:
                    case b"QUIT":
                        await connection.write(b"+ bye\r\n", timeout=config.write_timeout)
                        return
                    case b"STARTTLS":
                        await asyncio.sleep(config.starttls_delay)
                        context = connection.listener.ssl_context
                        assert context is not None
                        dropped = await connection.start_tls(
                            context, reply=b"+ go ahead\r\n", handshake_timeout=config.tls_handshake_timeout
                        )
                        # The core drops what it had buffered, the transport what it had.
                        self.discarded.append(dropped + len(pending))
                        pending = b""
                    case b"SLOW":
                        await asyncio.sleep(config.slow_seconds)
                        await connection.write(b"= done\r\n", timeout=config.write_timeout)
                    case b"FLOOD":
                        while True:
                            await connection.write(b"x" * 65536, timeout=config.write_timeout)
                    case b"TICK":  # like IMAP IDLE: updates go out while the reader waits
                        self.tasks.append(asyncio.create_task(self._tick(connection, config)))
                    case b"HOLD":
                        await asyncio.sleep(3600)
                    case b"XOR":
                        await connection.write(b"+ xor\r\n", timeout=config.write_timeout)
                        # What followed the command in our own buffer is filtered data too.
                        connection.add_filter(RunningXor(), already_received=pending)
                        pending = b""
                    case _:
                        await connection.write(b"= " + line + b"\r\n", timeout=config.write_timeout)
            data = await connection.read(timeout=config.read_timeout)
            if not data:
                return
            pending += data

    async def _tick(self, connection: Connection[EchoConfig], config: EchoConfig) -> None:
        for n in range(3):
            await asyncio.sleep(0.05)
            await connection.write(b"* tick %d\r\n" % n, timeout=config.write_timeout)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    ensure_self_signed(cert, key, names=["localhost", "127.0.0.1"])
    return cert, key


@pytest.fixture
def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


@pytest.fixture
def client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Harness:
    def __init__(self) -> None:
        self.servers: list[Server[EchoConfig]] = []

    async def start(
        self,
        *listeners: Listener[EchoConfig],
        front_end: Echo | None = None,
        hosts: str | list[str] = "127.0.0.1",
        limit: int = 10,
        tls_handshake_timeout: float = 5.0,
        cut_idle_on_close: bool = True,
        buffer_limit: int | None = None,
    ) -> tuple[Server[EchoConfig], Echo]:
        front_end = front_end or Echo()
        extra = {} if buffer_limit is None else {"buffer_limit": buffer_limit}
        server = Server(
            list(listeners), hosts=hosts, front_end=front_end, max_connections_per_client=limit,
            tls_handshake_timeout=tls_handshake_timeout, cut_idle_on_close=cut_idle_on_close, **extra,
        )  # fmt: skip
        await server.start()
        self.servers.append(server)
        return server, front_end


def on_both_loops(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run `test(harness, **fixtures)` in a fresh event loop of each kind, closing its servers after."""
    parameters = [p for p in inspect.signature(test).parameters.values() if p.name != "harness"]

    @pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
    @functools.wraps(test)
    def wrapper(loop: str, **fixtures: object) -> None:
        async def body() -> None:
            harness = Harness()
            try:
                await test(harness, **fixtures)
            finally:
                for server in harness.servers:
                    await server.close(grace=1)

        (uvloop.run if loop == "uvloop" else asyncio.run)(body())

    loop_parameter = inspect.Parameter("loop", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)
    wrapper.__signature__ = inspect.Signature([loop_parameter, *parameters])  # type: ignore[attr-defined]
    return wrapper


def port_of(server: Server[EchoConfig], listener: Listener[EchoConfig]) -> int:
    return int(server.sockets(listener)[0].getsockname()[1])


async def dial(
    port: int, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port, ssl=tls, server_hostname="localhost" if tls else None)


async def line(reader: asyncio.StreamReader, timeout: float = 5.0) -> bytes:
    return await asyncio.wait_for(reader.readline(), timeout)


async def until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def plain(port: int = 0, **config: float) -> Listener[EchoConfig]:
    return Listener("echo", port, EchoConfig(**config))


# --- accepting ---------------------------------------------------------------------------


@on_both_loops
async def test_echo_and_quit(harness: Harness) -> None:
    listener = plain()
    server, _ = await harness.start(listener)
    reader, writer = await dial(port_of(server, listener))
    assert await line(reader) == b"+ hello\r\n"
    writer.write(b"one\r\ntwo\r\nQUIT\r\n")
    assert [await line(reader) for _ in range(3)] == [b"= one\r\n", b"= two\r\n", b"+ bye\r\n"]
    assert await reader.read() == b""
    writer.close()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@on_both_loops
@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
async def test_listens_on_ipv4_and_ipv6_addresses(harness: Harness) -> None:
    from libs.testing.ports import free_port

    port = free_port()
    listener = plain(port)
    await harness.start(listener, hosts=["127.0.0.1", "::1"])
    for host in ("127.0.0.1", "::1"):
        reader, writer = await dial(port, host=host)
        assert await line(reader) == b"+ hello\r\n"
        writer.close()


@on_both_loops
async def test_connections_over_the_limit_get_the_front_ends_refusal(harness: Harness) -> None:
    listener = plain()
    server, echo = await harness.start(listener, limit=2)
    port = port_of(server, listener)
    first, second = await dial(port), await dial(port)
    for reader, _ in (first, second):
        assert await line(reader) == b"+ hello\r\n"
    reader, writer = await dial(port)
    assert await line(reader) == b"- too many connections\r\n"
    assert await reader.read() == b""
    writer.close()
    assert echo.events.count("served") == 2
    first[1].write(b"QUIT\r\n")
    assert await line(first[0]) == b"+ bye\r\n"
    await until(lambda: server.open_connections == 1)
    reader, writer = await dial(port)  # the slot is free again
    assert await line(reader) == b"+ hello\r\n"
    writer.close()
    second[1].close()


@on_both_loops
async def test_check_connection_refuses_before_any_session(harness: Harness) -> None:
    listener = plain()
    server, echo = await harness.start(listener, front_end=Echo(refuse_all=True))
    reader, writer = await dial(port_of(server, listener))
    assert await line(reader) == b"- go away\r\n"
    assert await reader.read() == b""
    writer.close()
    assert "served" not in echo.events


# --- timeouts ----------------------------------------------------------------------------


@on_both_loops
async def test_read_timeout_lets_the_front_end_say_goodbye(harness: Harness) -> None:
    listener = plain(read_timeout=0.3)
    server, echo = await harness.start(listener)
    reader, writer = await dial(port_of(server, listener))
    assert await line(reader) == b"+ hello\r\n"
    started = time.monotonic()
    assert await line(reader) == b"- timeout\r\n"
    assert await reader.read() == b""
    assert 0.25 < time.monotonic() - started < 3
    assert echo.events[-1] == "read_timeout"
    writer.close()


@on_both_loops
async def test_a_client_that_never_reads_is_aborted_after_the_write_timeout(harness: Harness) -> None:
    listener = plain(write_timeout=0.5)
    server, echo = await harness.start(listener)
    reader, writer = await dial(port_of(server, listener))
    assert await line(reader) == b"+ hello\r\n"
    writer.write(b"FLOOD\r\n")
    await until(lambda: "write_timeout" in echo.events, timeout=20)
    await until(lambda: server.open_connections == 0)
    writer.close()


@on_both_loops
async def test_a_client_that_does_not_stop_sending_is_held_back(harness: Harness) -> None:
    listener = plain()
    server, _ = await harness.start(listener, buffer_limit=4096)
    reader, writer = await dial(port_of(server, listener))
    assert await line(reader) == b"+ hello\r\n"
    writer.write(b"HOLD\r\n")
    (connection,) = server._connections.values()
    chunk = b"y" * 65536
    with pytest.raises(TimeoutError):
        for _ in range(1000):  # 64 MiB: far more than the socket buffers hold
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 1.0)
    # The socket is no longer read: at most one receive beyond the limit waits in memory.
    assert connection.buffered <= 4096 + 256 * 1024
    writer.transport.abort()


# --- TLS ---------------------------------------------------------------------------------


@on_both_loops
async def test_starttls_drops_plaintext_that_arrived_before_the_upgrade(
    harness: Harness, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    listener = Listener("echo", 0, EchoConfig(starttls_delay=0.3), server_tls)
    server, echo = await harness.start(listener)
    reader, writer = await dial(port_of(server, listener))
    assert await line(reader) == b"+ hello\r\n"
    writer.write(b"STARTTLS\r\n")
    await writer.drain()
    await asyncio.sleep(0.1)  # the server has read STARTTLS and is busy before the upgrade
    injected = b"INJECTED\r\n"
    writer.write(injected)  # a man in the middle's plaintext, waiting in the transport's buffer
    assert await line(reader) == b"+ go ahead\r\n"
    await writer.start_tls(client_tls, server_hostname="localhost")
    writer.write(b"after\r\n")
    assert await line(reader) == b"= after\r\n"
    assert echo.discarded == [len(injected)]
    (connection,) = server._connections.values()
    assert connection.tls_active
    writer.close()


@on_both_loops
async def test_starttls_pipelined_plaintext_is_not_run_under_tls(
    harness: Harness, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    listener = Listener("echo", 0, EchoConfig(), server_tls)
    server, echo = await harness.start(listener)
    reader, writer = await dial(port_of(server, listener))
    assert await line(reader) == b"+ hello\r\n"
    writer.write(b"STARTTLS\r\nINJECTED\r\n")
    assert await line(reader) == b"+ go ahead\r\n"
    await writer.start_tls(client_tls, server_hostname="localhost")
    writer.write(b"after\r\n")
    assert await line(reader) == b"= after\r\n"
    assert echo.discarded == [len(b"INJECTED\r\n")]
    writer.close()


@on_both_loops
async def test_a_starttls_handshake_that_never_comes_is_cut(harness: Harness, server_tls: ssl.SSLContext) -> None:
    listener = Listener("echo", 0, EchoConfig(tls_handshake_timeout=0.3), server_tls)
    server, echo = await harness.start(listener)
    reader, writer = await dial(port_of(server, listener))
    assert await line(reader) == b"+ hello\r\n"
    writer.write(b"STARTTLS\r\n")
    assert await line(reader) == b"+ go ahead\r\n"
    assert await asyncio.wait_for(reader.read(), 5) == b""
    await until(lambda: "tls_failed" in echo.events)
    writer.close()


@on_both_loops
async def test_implicit_tls(harness: Harness, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    listener = Listener("echos", 0, EchoConfig(), server_tls, implicit_tls=True)
    server, _ = await harness.start(listener)
    reader, writer = await dial(port_of(server, listener), tls=client_tls)
    assert await line(reader) == b"+ hello\r\n"
    writer.write(b"secret\r\n")
    assert await line(reader) == b"= secret\r\n"
    (connection,) = server._connections.values()
    assert connection.tls_active
    writer.close()


@on_both_loops
async def test_implicit_tls_handshake_timeout_drops_a_silent_client(
    harness: Harness, server_tls: ssl.SSLContext
) -> None:
    listener = Listener("echos", 0, EchoConfig(), server_tls, implicit_tls=True)
    server, echo = await harness.start(listener, tls_handshake_timeout=0.3)
    reader, writer = await dial(port_of(server, listener))  # plain TCP: never says ClientHello
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert time.monotonic() - started < 3
    assert "served" not in echo.events
    writer.close()


# --- the filter seam ---------------------------------------------------------------------


@on_both_loops
async def test_a_filter_layers_on_the_stream_after_its_reply(harness: Harness) -> None:
    listener = plain()
    server, _ = await harness.start(listener)
    reader, writer = await dial(port_of(server, listener))
    assert await line(reader) == b"+ hello\r\n"
    client = RunningXor()
    # Pipelined behind the command, so part of it is still in the front end's buffer.
    writer.write(b"XOR\r\n" + client.encode(b"first\r\n"))
    assert await line(reader) == b"+ xor\r\n"
    writer.write(client.encode(b"second\r\nthird\r\n"))
    expected = b"= first\r\n= second\r\n= third\r\n"
    assert client.decode(await asyncio.wait_for(reader.readexactly(len(expected)), 5)) == expected
    writer.close()


@on_both_loops
async def test_another_task_writes_while_the_reader_waits(harness: Harness) -> None:
    listener = plain()
    server, _ = await harness.start(listener)
    reader, writer = await dial(port_of(server, listener))
    assert await line(reader) == b"+ hello\r\n"
    writer.write(b"TICK\r\n")
    assert [await line(reader) for _ in range(3)] == [b"* tick 0\r\n", b"* tick 1\r\n", b"* tick 2\r\n"]
    writer.write(b"DONE\r\n")
    assert await line(reader) == b"= DONE\r\n"
    writer.close()


# --- closing -----------------------------------------------------------------------------


@on_both_loops
async def test_close_cuts_idle_sessions_and_lets_busy_ones_finish(harness: Harness) -> None:
    listener = plain(slow_seconds=0.5)
    server, echo = await harness.start(listener)
    port = port_of(server, listener)
    idle_reader, idle_writer = await dial(port)
    busy_reader, busy_writer = await dial(port)
    for reader in (idle_reader, busy_reader):
        assert await line(reader) == b"+ hello\r\n"
    busy_writer.write(b"SLOW\r\n")
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await server.close(grace=5)
    assert time.monotonic() - started < 3
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""
    assert await line(busy_reader) == b"= done\r\n"
    assert echo.events.count("cut") == 2  # the idle one at once, the other after its reply
    assert not server.serving
    with pytest.raises(OSError):
        await dial(port)
    idle_writer.close()
    busy_writer.close()


@on_both_loops
async def test_close_cuts_busy_sessions_after_the_grace(harness: Harness) -> None:
    listener = plain(slow_seconds=30)
    server, echo = await harness.start(listener, cut_idle_on_close=False)
    port = port_of(server, listener)
    busy_reader, busy_writer = await dial(port)
    idle_reader, idle_writer = await dial(port)
    for reader in (idle_reader, busy_reader):
        assert await line(reader) == b"+ hello\r\n"
    busy_writer.write(b"SLOW\r\n")
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await server.close(grace=0.3)
    assert 0.25 < time.monotonic() - started < 3
    assert echo.events.count("cut") == 2
    assert await asyncio.wait_for(busy_reader.read(), 5) == b""
    assert server.open_connections == 0
    busy_writer.close()
    idle_writer.close()


# --- the connection's read/write flags ---------------------------------------------------------


async def test_flag_wakes_every_waiter_and_forgets_waiters_that_gave_up() -> None:
    from libs.net.connection import _Flag

    flag = _Flag()
    assert not flag.is_set()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(flag.wait(), 0.01)  # gives up: its future must not linger
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert flag.is_set()
    await asyncio.wait_for(flag.wait(), 1)  # set: returns at once
    flag.clear()
    assert not flag.is_set() and not flag._waiters
