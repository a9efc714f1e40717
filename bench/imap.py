"""IMAP and POP3 throughput of Parley and of Dovecot, the same load back to back, and the memory of
10,000 idle IMAP connections held by one imap process.

    .venv/bin/python bench/imap.py                          # both servers, 3 runs of 20 s each, 10,000 idle
    .venv/bin/python bench/imap.py --runs 1 --secs 10       # quicker
    .venv/bin/python bench/imap.py --no-peer                # Parley alone
    .venv/bin/python bench/imap.py --idle 0                 # no idle-connection figure
    .venv/bin/python bench/imap.py --idle 10000 --no-load   # only the idle-connection figure
    .venv/bin/python bench/imap.py --no-peer --idle 0 --loads imap_persistent --profile storage
                                                            # one load, storage recorded with py-spy

The load is the peer harness's `imap/imap_load.py` (imaplib and poplib in N
processes, one user each, all on loopback), pointed at each server in turn:

- IMAP session: LOGIN, SELECT INBOX, FETCH 1:* (FLAGS), FETCH n BODY.PEEK[],
  STORE +FLAGS (\\Seen), APPEND, STORE +FLAGS (\\Deleted), EXPUNGE, LOGOUT;
- POP3 session: USER, PASS, STAT, LIST, RETR n, QUIT.

Each user's INBOX is first filled with 100 messages of the harness's
deterministic mbox (`imap/gen_mbox.py`). The figures are commands per second
and sessions (logins) per second, the median over `--runs`, and Parley's
over Dovecot's.

Dovecot (the peer) is installed and started by the harness's
`imap/setup.sh` (127.0.0.1:1143 and :1110, any user with password `pass`,
static passdb: no password hashing). Parley runs as `parley up` starts it
(directory, storage, imap, pop3; SQLite and local blobs under a temporary
data dir) with its listeners on free loopback ports, plaintext login allowed
(the peer has no TLS either) and the per-address connection limits raised
(every client comes from 127.0.0.1).

The idle figure: `--idle` connections to the one imap process, each logged
in (AUTHENTICATE SCRAM-SHA-256, so that the directory's argon2 is not what
the opening waits on), INBOX (100 messages) SELECTed and in IDLE. The imap
process's RSS is read from /proc after a warm-up of `--idle-warmup`
connections and again once all are open; the growth over the connections
opened in between, divided by their count, is the memory per idle
connection. The client side runs in `--idle-processes` processes.

The peer harness lives beside the repository (`../shared/bench`); another
place is given with `--peer-bench DIR`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import mailbox
import multiprocessing
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from libs.testing.ports import free_ports  # noqa: E402
from libs.testing.suite import RunningSuite, start_suite, stop_suite  # noqa: E402

DOMAIN = "bench.test"
PASSWORD = "pass"  # the peer's static passdb accepts any user with this password
USER_TEMPLATE = "load%d@" + DOMAIN
PEER_IMAP_PORT, PEER_POP3_PORT = 1143, 1110
LOADS = ("imap", "imap_persistent", "pop3")
PEER_MAIL_ROOT = Path("/var/lib/dovecot-bench")
PEER_PIDFILE = Path("/run/dovecot-bench/master.pid")
HOST = "127.0.0.1"
T = TypeVar("T")


# --- the peer -----------------------------------------------------------------------------------------


def default_peer_bench() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "shared" / "bench"


def pid_running(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().split()[0]), 0)
    except (OSError, ValueError):
        return False
    return True


class Dovecot:
    """The peer, started by the harness's setup.sh; stopped again only if this run started it."""

    def __init__(self, harness: Path) -> None:
        self.harness = harness
        self.started_here = False

    def start(self) -> None:
        self.started_here = not pid_running(PEER_PIDFILE)
        subprocess.run(["bash", "setup.sh"], cwd=self.harness, check=True, stdout=subprocess.DEVNULL)

    def clear_users(self, users: list[str]) -> None:
        for user in users:
            shutil.rmtree(PEER_MAIL_ROOT / user, ignore_errors=True)

    def stop(self) -> None:
        if self.started_here:
            subprocess.run(["dovecot", "-c", str(self.harness / "dovecot-bench.conf"), "stop"], capture_output=True)


# --- Parley -----------------------------------------------------------------------------------------------


@dataclass
class Parley:
    suite: RunningSuite
    imap_port: int
    pop3_port: int

    @property
    def imap_pid(self) -> int:
        pid = self.suite.pid_of("imap")
        if pid is None:
            raise SystemExit("the imap service has no pid file")
        return pid


def start_parley(work: Path, *, idle: int) -> Parley:
    imap, pop3 = free_ports(2)
    # Every client of the benchmark comes from 127.0.0.1 and the idle figure puts thousands of
    # sessions on few accounts: the per-address and per-account limits would refuse them.
    many = str(max(idle, 100) + 1000)
    env = {
        "PARLEY_LOG_LEVEL": "warning",
        "PARLEY_IMAP_PORT": str(imap),
        "PARLEY_IMAP_TLS_PORT": "0",
        "PARLEY_IMAP_AUTH_REQUIRES_TLS": "false",
        "PARLEY_IMAP_MAX_CONNECTIONS_PER_CLIENT": many,
        "PARLEY_IMAP_MAX_CONNECTIONS_PER_ACCOUNT": many,
        "PARLEY_POP3_POP3_PORT": str(pop3),
        "PARLEY_POP3_POP3S_PORT": "0",
        "PARLEY_POP3_ALLOW_PLAINTEXT_AUTH": "true",
        "PARLEY_POP3_MAX_CONNECTIONS_PER_CLIENT": "1000",
    }
    suite = start_suite(work, services="directory,storage,imap,pop3", env=env)
    return Parley(suite=suite, imap_port=imap, pop3_port=pop3)


def provision(parley: Parley, users: list[str]) -> None:
    steps = [("domain", "create", DOMAIN)] + [("account", "create", u, "--password", PASSWORD) for u in users]
    for step in steps:
        result = parley.suite.parley("admin", *step)
        if result.returncode != 0:
            raise SystemExit(f"provisioning failed ({' '.join(step[:3])}): {result.stderr.strip()}")


# --- the load ------------------------------------------------------------------------------------------------


@dataclass
class Load:
    server: str
    proto: str
    commands_per_s: float
    sessions_per_s: float
    errors: int
    runs: list[str] = field(default_factory=list)


def run_load(
    harness: Path, mbox: Path, *, server: str, proto: str, port: int, imap_port: int, args: argparse.Namespace
) -> Load:
    command = [
        sys.executable, str(harness / "imap_load.py"), "--proto", proto, "--host", HOST, "--port", str(port),
        "--imap-port", str(imap_port), "--user", USER_TEMPLATE, "--password", PASSWORD,
        "--clients", str(args.clients), "--secs", str(args.secs), "--runs", str(args.runs), "--mbox", str(mbox),
    ]  # fmt: skip
    timeout = args.runs * (args.secs + 60) + 600  # the prefill APPENDs 100 messages per user first
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{proto} load against {server} failed:\n{done.stdout}\n{done.stderr}")
    cmds = re.search(rf"^{proto}_pyload_cmds_median=([\d.]+)", done.stdout, re.M)
    logins = re.search(rf"^{proto}_pyload_logins_median=([\d.]+)", done.stdout, re.M)
    if cmds is None or logins is None:
        raise SystemExit(f"unexpected output of the {proto} load:\n{done.stdout}\n{done.stderr}")
    runs = [line for line in done.stdout.splitlines() if line.startswith("run ")]
    errors = sum(int(m) for m in re.findall(r"errors=(\d+)", done.stdout))
    return Load(server, proto, float(cmds[1]), float(logins[1]), errors, runs)


class ImapClient:
    """A minimal IMAP client on asyncio streams: tagged commands, literals both ways."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.tag = reader, writer, 0

    @classmethod
    async def connect(cls, port: int) -> ImapClient:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        if not (await reader.readline()).startswith(b"* OK"):
            raise RuntimeError("no greeting")
        return cls(reader, writer)

    async def command(self, text: str, literal: bytes | None = None) -> list[bytes]:
        """Send one command (with one synchronizing literal at its end) and return its untagged lines."""
        self.tag += 1
        tag = b"t%d" % self.tag
        if literal is None:
            self.writer.write(tag + b" " + text.encode() + b"\r\n")
        else:
            self.writer.write(tag + b" " + text.encode() + b" {%d}\r\n" % len(literal))
            if not (await self.reader.readline()).startswith(b"+"):
                raise RuntimeError(f"literal refused: {text}")
            self.writer.write(literal + b"\r\n")
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("closed by the server")
            while (size := re.search(rb"\{(\d+)\}\r\n$", line)) is not None:  # a literal, then the line goes on
                line += await self.reader.readexactly(int(size[1])) + await self.reader.readline()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line.decode(errors="replace").strip())
                return lines
            lines.append(line)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.command("LOGOUT"), 10)
        self.writer.close()


def load_messages(mbox: Path, count: int = 200) -> list[bytes]:
    """The first messages of the mbox with CRLF line ends, as imap_load.py APPENDs them."""
    messages = []
    for _, message in zip(range(count), mailbox.mbox(mbox), strict=False):
        messages.append(message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    return messages


async def _logged_in(port: int, user: str, attempts: int = 5) -> ImapClient:
    """A session logged in as `user`; a directory slowed by argon2 under load may say UNAVAILABLE: retry."""
    for attempt in range(1, attempts + 1):
        client = await ImapClient.connect(port)
        try:
            await client.command(f"LOGIN {user} {PASSWORD}")
            return client
        except RuntimeError:
            client.writer.close()
            if attempt == attempts:
                raise
            await asyncio.sleep(attempt)
    raise AssertionError("not reached")


async def _persistent_client(client: ImapClient, messages: list[bytes], deadline: float, seed: int) -> tuple[int, int]:
    """SELECT / FETCH flags / FETCH body / STORE / APPEND / STORE / EXPUNGE until the deadline: (commands, errors)."""
    rnd = random.Random(seed)
    done = 0
    try:
        while time.monotonic() < deadline:
            exists = [
                int(line.split()[1]) for line in await client.command("SELECT INBOX") if line.endswith(b"EXISTS\r\n")
            ]
            count = exists[-1] if exists else 0
            if count:
                await client.command("FETCH 1:* (FLAGS)")
                await client.command(f"FETCH {rnd.randint(1, count)} (BODY.PEEK[])")
                await client.command(f"STORE {rnd.randint(1, count)} +FLAGS (\\Seen)")
            await client.command("APPEND INBOX", rnd.choice(messages))
            done += 2 + 3 * bool(count)
            if count:  # one APPEND and one expunged message per round: the mailbox keeps its size
                await client.command(f"STORE {rnd.randint(1, count)} +FLAGS (\\Deleted)")
                await client.command("EXPUNGE")
                done += 2
    except (RuntimeError, ConnectionError) as exc:  # a refused command ends this client's run
        print(f"# persistent client {seed}: {exc}", flush=True)
        return done, 1
    finally:
        await client.close()
    return done, 0


async def _persistent_load(port: int, users: list[str], messages: list[bytes], secs: float) -> tuple[int, int, float]:
    clients = await asyncio.gather(*(_logged_in(port, user) for user in users))  # before the clock starts
    started = time.monotonic()
    deadline = started + secs
    results = await asyncio.gather(
        *(_persistent_client(client, messages, deadline, seed) for seed, client in enumerate(clients))
    )
    return sum(r[0] for r in results), sum(r[1] for r in results), time.monotonic() - started


def run_persistent(mbox: Path, *, server: str, port: int, users: list[str], args: argparse.Namespace) -> Load:
    """The IMAP command mix without a login per session: one asyncio process, one session per user."""
    messages = load_messages(mbox)
    rates, runs, errors = [], [], 0
    for n in range(1, args.runs + 1):
        commands, failed, seconds = asyncio.run(_persistent_load(port, users, messages, args.secs))
        rates.append(commands / seconds)
        errors += failed
        runs.append(
            f"run {n}: commands={commands} errors={failed} in {seconds:.2f}s -> {rates[-1]:.1f} cmd/s load={loadavg()}"
        )
    return Load(server, "imap_persistent", statistics.median(rates), 0.0, errors, runs)


# --- idle connections ---------------------------------------------------------------------------------------


def raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


@functools.lru_cache(maxsize=64)
def _salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)


def _scram_proof(password: str, first_bare: str, server_first: str, final_bare: str) -> bytes:
    """RFC 5802 section 3: ClientProof = ClientKey XOR HMAC(H(ClientKey), AuthMessage)."""
    attrs = dict(part.split("=", 1) for part in server_first.split(","))
    salted = _salted_password(password, base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
    return bytes(a ^ b for a, b in zip(client_key, signature, strict=True))


async def _until_tagged(reader: asyncio.StreamReader, tag: bytes) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed by the server")
        if line.startswith(tag + b" "):
            if not line.startswith(tag + b" OK"):
                raise RuntimeError(line.decode(errors="replace").strip())
            return line


async def _scram_login(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, user: str) -> None:
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={nonce}"
    initial = base64.b64encode(f"n,,{first_bare}".encode()).decode()
    writer.write(f"a AUTHENTICATE SCRAM-SHA-256 {initial}\r\n".encode())
    line = await reader.readline()
    if not line.startswith(b"+ "):
        raise RuntimeError(f"no SCRAM challenge: {line!r}")
    server_first = base64.b64decode(line[2:].strip()).decode()
    server_nonce = dict(part.split("=", 1) for part in server_first.split(","))["r"]
    final_bare = f"c=biws,r={server_nonce}"
    proof = base64.b64encode(_scram_proof(PASSWORD, first_bare, server_first, final_bare)).decode()
    writer.write(base64.b64encode(f"{final_bare},p={proof}".encode()) + b"\r\n")
    while True:  # the server's signature comes as a last challenge, answered empty (RFC 4959 section 2)
        line = await reader.readline()
        if line.startswith(b"+"):
            writer.write(b"\r\n")
        elif line.startswith(b"a OK"):
            return
        else:
            raise RuntimeError(f"SCRAM login refused: {line!r}")


async def _open_idle(port: int, user: str) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection(HOST, port)
    greeting = await reader.readline()
    if not greeting.startswith(b"* OK"):
        raise RuntimeError(f"greeting {greeting!r}")
    await _scram_login(reader, writer, user)
    writer.write(b"s SELECT INBOX\r\n")
    await _until_tagged(reader, b"s")
    writer.write(b"i IDLE\r\n")
    line = await reader.readline()
    if not line.startswith(b"+"):
        raise RuntimeError(f"IDLE refused: {line!r}")
    return writer


async def _hold_idle(port: int, users: list[str], indices: range, pipe: Pipe) -> None:
    gate = asyncio.Semaphore(32)  # connections being set up at once: stays under the listen backlog

    async def one(i: int) -> asyncio.StreamWriter:
        async with gate:
            return await _open_idle(port, users[i % len(users)])

    results = await asyncio.gather(*(one(i) for i in indices), return_exceptions=True)
    writers = [r for r in results if isinstance(r, asyncio.StreamWriter)]
    failures = [r for r in results if not isinstance(r, asyncio.StreamWriter)]
    pipe.send((len(writers), len(failures), repr(failures[0]) if failures else ""))
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # hold until told to close
    for writer in writers:
        writer.close()


def _idle_worker(port: int, users: list[str], indices: range, pipe: Pipe) -> None:
    raise_nofile(len(indices) + 100)
    asyncio.run(_hold_idle(port, users, indices, pipe))


class IdleClients:
    """Processes that each open a share of the connections, report, and hold them until closed."""

    def __init__(self) -> None:
        self.workers: list[tuple[multiprocessing.Process, Pipe]] = []

    def open(self, port: int, users: list[str], first: int, count: int, processes: int, timeout: float) -> int:
        context = multiprocessing.get_context("fork")
        batch = []
        for n in range(processes):
            share = range(first + n * count // processes, first + (n + 1) * count // processes)
            mine, theirs = context.Pipe()
            worker = context.Process(target=_idle_worker, args=(port, users, share, theirs), daemon=True)
            worker.start()
            batch.append((worker, mine))
        self.workers += batch
        opened = 0
        deadline = time.monotonic() + timeout
        for _, pipe in batch:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise SystemExit(f"idle connections not open within {timeout:.0f} s")
            ok, failed, first_error = pipe.recv()
            opened += ok
            if failed:
                print(f"# idle: {failed} connections failed, first: {first_error}", flush=True)
        return opened

    def close(self) -> None:
        for worker, pipe in self.workers:
            if worker.is_alive():
                pipe.send("close")
        for worker, _ in self.workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()


@dataclass
class IdleFigure:
    connections: int
    warm: int
    rss_start_kib: int
    rss_warm_kib: int
    rss_end_kib: int
    seconds: float

    @property
    def bytes_per_connection(self) -> float:
        return (self.rss_end_kib - self.rss_warm_kib) * 1024 / max(1, self.connections - self.warm)


def measure_idle(parley: Parley, users: list[str], args: argparse.Namespace) -> IdleFigure:
    pid = parley.imap_pid
    clients = IdleClients()
    try:
        rss_start = rss_kib(pid)
        warm = clients.open(parley.imap_port, users, 0, args.idle_warmup, 1, args.idle_timeout)
        time.sleep(2)
        rss_warm = rss_kib(pid)
        started = time.monotonic()
        rest = args.idle - args.idle_warmup
        opened = warm + clients.open(
            parley.imap_port, users, args.idle_warmup, rest, args.idle_processes, args.idle_timeout
        )
        seconds = time.monotonic() - started
        time.sleep(3)  # let the last sessions settle (subscriptions, IDLE tasks)
        rss_end = rss_kib(pid)
    finally:
        clients.close()
    return IdleFigure(opened, warm, rss_start, rss_warm, rss_end, seconds)


# --- report ---------------------------------------------------------------------------------------------------


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def report_loads(loads: list[Load], args: argparse.Namespace) -> None:
    print(f"# load: imap_load.py, {args.clients} processes, {args.secs:g} s per run, {args.runs} runs per server")
    for load in loads:
        for line in load.runs:
            print(f"# {load.server:<8} {load.proto:<4} {line}")
    for load in loads:
        key = f"{load.proto}_{load.server}"
        print(f"{key}_cmds_per_s={load.commands_per_s:.1f}")
        if load.proto != "imap_persistent":
            print(f"{key}_sessions_per_s={load.sessions_per_s:.1f}")
        print(f"{key}_errors={load.errors}")
    for proto in ("imap", "imap_persistent", "pop3"):
        pair = {load.server: load for load in loads if load.proto == proto}
        if "parley" in pair and "dovecot" in pair and pair["dovecot"].commands_per_s:
            ratio = pair["parley"].commands_per_s / pair["dovecot"].commands_per_s
            print(f"{proto}_ratio_parley_over_dovecot={ratio:.2f}")


def report_idle(figure: IdleFigure) -> None:
    print("idle_state=logged in (SCRAM-SHA-256), INBOX selected, in IDLE")
    print(f"idle_connections={figure.connections}")
    print(f"idle_open_seconds={figure.seconds:.1f}")
    print(f"idle_rss_start_kib={figure.rss_start_kib}")
    print(f"idle_rss_after_warmup_kib={figure.rss_warm_kib} (after {figure.warm} connections)")
    print(f"idle_rss_end_kib={figure.rss_end_kib}")
    print(f"idle_bytes_per_connection={figure.bytes_per_connection:.0f}")


# --- main ------------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10, help="load processes, one user each")
    parser.add_argument("--secs", type=float, default=20, help="seconds per load run")
    parser.add_argument("--runs", type=int, default=3, help="load runs per server and protocol")
    parser.add_argument("--no-peer", action="store_true", help="measure Parley only")
    parser.add_argument("--no-load", action="store_true", help="skip the IMAP/POP3 loads")
    parser.add_argument("--idle", type=int, default=10_000, help="idle IMAP connections (0: skip)")
    parser.add_argument("--idle-warmup", type=int, default=200, help="connections opened before the first RSS")
    parser.add_argument("--idle-processes", type=int, default=4, help="client processes holding them")
    parser.add_argument("--idle-timeout", type=float, default=300, help="seconds allowed to open them")
    parser.add_argument("--peer-bench", type=Path, default=default_peer_bench(), help="the peer harness directory")
    parser.add_argument("--loads", default=",".join(LOADS), help=f"comma-separated loads to run, of {', '.join(LOADS)}")
    parser.add_argument(
        "--profile",
        metavar="SERVICE",
        action="append",
        default=[],
        help="record this Parley service with py-spy during each of its loads (repeatable)",
    )
    parser.add_argument("--profile-dir", type=Path, default=Path("."), help="where --profile writes its stacks")
    args = parser.parse_args()
    unknown = set(args.loads.split(",")) - set(LOADS)
    if unknown:
        parser.error(f"unknown loads: {', '.join(sorted(unknown))}")
    if args.idle and args.idle <= args.idle_warmup:
        parser.error("--idle must exceed --idle-warmup")
    return args


@contextlib.contextmanager
def profiling(parley: Parley, proto: str, args: argparse.Namespace) -> Iterator[None]:
    """py-spy on each `--profile` service for the length of one load: collapsed stacks (flame graph
    input, one stack and its sample count a line) in <service>-<load>.txt in --profile-dir."""
    recorders = []
    for service in args.profile:
        pid = parley.suite.pid_of(service)
        if pid is None:
            raise SystemExit(f"the {service} service has no pid file")
        out = args.profile_dir / f"{service}-{proto}.txt"
        command = ["py-spy", "record", "--nonblocking", "--format", "raw", "-p", str(pid), "-o", str(out)]
        py_spy = Path(sys.executable).parent / "py-spy"
        command[0] = str(py_spy) if py_spy.exists() else "py-spy"
        recorders.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            recorder.wait(timeout=60)


def attempt(measure: Callable[[], T]) -> T | None:
    """One measurement; a failed one is reported and skipped so that the others still run."""
    try:
        return measure()
    except (SystemExit, Exception) as exc:
        print(f"# measurement failed: {exc}", flush=True)
        return None


def measure_load(
    harness: Path, mbox: Path, parley: Parley, users: list[str], proto: str, server: str, args: argparse.Namespace
) -> Load:
    imap_port = PEER_IMAP_PORT if server == "dovecot" else parley.imap_port
    if proto == "imap_persistent":
        return run_persistent(mbox, server=server, port=imap_port, users=users, args=args)
    pop3_port = PEER_POP3_PORT if server == "dovecot" else parley.pop3_port
    port = imap_port if proto == "imap" else pop3_port
    return run_load(harness, mbox, server=server, proto=proto, port=port, imap_port=imap_port, args=args)


def main() -> None:
    args = parse_args()
    harness = args.peer_bench / "imap"
    if not args.no_load and not (harness / "imap_load.py").exists():
        raise SystemExit(f"the peer harness is not at {harness} (give --peer-bench)")
    raise_nofile(args.idle + 1000)  # inherited by the imap process that holds the idle connections
    users = [USER_TEMPLATE % i for i in range(1, args.clients + 1)]
    print(f"# {platform.node()} {os.cpu_count()} cpus, python {platform.python_version()}, load {loadavg()}")
    dovecot = Dovecot(harness)
    loads: list[Load] = []
    figure: IdleFigure | None = None
    with tempfile.TemporaryDirectory(prefix="parley-bench-imap-") as work:
        mbox = Path(work) / "bench.mbox"
        parley = start_parley(Path(work), idle=args.idle)
        try:
            provision(parley, users)
            if not args.no_load:
                subprocess.run([sys.executable, str(harness / "gen_mbox.py"), str(mbox), "1000"], check=True,
                               stdout=subprocess.DEVNULL)  # fmt: skip
                if not args.no_peer:
                    dovecot.start()
                    dovecot.clear_users(users)
                for proto in [p for p in LOADS if p in args.loads.split(",")]:
                    for server in ("parley",) if args.no_peer else ("dovecot", "parley"):
                        measure = functools.partial(measure_load, harness, mbox, parley, users, proto, server, args)
                        with profiling(parley, proto, args) if server == "parley" else contextlib.nullcontext():
                            load = attempt(measure)
                        loads += [load] if load is not None else []
                        time.sleep(2)
            if args.idle:
                figure = attempt(lambda: measure_idle(parley, users, args))
        finally:
            stop_suite(parley.suite)
            if not args.no_peer and not args.no_load:
                dovecot.clear_users(users)
                dovecot.stop()
    if loads:
        report_loads(loads, args)
    if figure is not None:
        report_idle(figure)
    print(f"load_at_end={loadavg()}")


if __name__ == "__main__":
    main()
