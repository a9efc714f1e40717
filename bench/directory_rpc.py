#!/usr/bin/env python3
"""Latency of the directory's bus RPCs with a large directory.

Sets up a throwaway world on loopback (nats-server, optionally PostgreSQL, a
populated directory database), starts the real directory service as a
process, and measures `directory.rpc.resolve` and `directory.rpc.auth` from
one client process with a bounded number of requests:

    .venv/bin/python bench/directory_rpc.py [--accounts 100000] [--requests 20000]
        [--concurrency 8] [--database sqlite|postgresql] [--keep DIR]

The directory is written by direct SQL (SQLAlchemy core, batches of 5,000),
not through the admin API. Every account shares ONE argon2id hash (computing
100,000 of them would take hours) and one SCRAM salt/password, so StoredKey
and ServerKey are the same in every row; digest HA1 values are real and per
account. argon2 is measured on its own: PLAIN logins over the bus with a
small request count, and `verify_password` in-process.

See bench/README.md for what each row of the output means.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from libs.auth import digest, passwords, scram  # noqa: E402
from libs.contracts import directory as contract  # noqa: E402
from libs.db import create_engine  # noqa: E402
from libs.db.migrations import upgrade  # noqa: E402
from libs.testing.natsd import NatsServer  # noqa: E402
from libs.testing.ports import free_ports  # noqa: E402
from libs.testing.services import ServiceProcess  # noqa: E402
from services.directory._credentials import credential_columns  # noqa: E402
from services.directory.models import Base  # noqa: E402

DOMAIN = "bench.test"
DOMAIN_ALIAS = "alias.bench.test"
EXTRA_DOMAINS = 9  # small neighbours of bench.test, so the domain table is not a single row
EXTRA_ACCOUNTS = 100  # per extra domain
REMOTE = "remote.example"
PASSWORD = "bench-password"
SCRAM_SALT = b"parley-bench-slt"  # 16 bytes, shared by every account
SCRAM_ITERATIONS = 4096
BATCH = 5000
REQUEST_TIMEOUT = 10.0
ERROR_CODE_HEADER = "Nats-Service-Error-Code"
MACHINE_SH = Path(__file__).resolve().parents[2] / "shared" / "bench" / "lib" / "machine.sh"  # beside the repository

WARMUP_SECONDS = 15.0
TARGET_RESOLVE_P99_MS = 2.0
TARGET_AUTH_P99_MS = 5.0


# --- data set -------------------------------------------------------------------


@dataclass
class DataSet:
    """What was written, so the client can ask for things that exist."""

    accounts: int
    aliases: dict[str, str] = field(default_factory=dict)  # alias local -> target address
    groups: dict[str, list[str]] = field(default_factory=dict)  # group local -> member addresses
    forwarders: int = 0
    rows: int = 0
    seconds: float = 0.0
    credential_seconds: float = 0.0


def account_local(i: int) -> str:
    return f"user{i}"


def shared_credentials() -> dict[str, Any]:
    """The columns every account shares: one argon2id hash, one set of SCRAM keys."""
    keys = scram.derive_keys(PASSWORD, salt=SCRAM_SALT, iterations=SCRAM_ITERATIONS)
    return {
        "password_hash": passwords.hash_password(PASSWORD),
        "scram_salt": keys.salt,
        "scram_iterations": keys.iterations,
        "scram_stored_key": keys.stored_key,
        "scram_server_key": keys.server_key,
    }


def account_credentials(shared: dict[str, Any], local: str, domain: str) -> dict[str, Any]:
    """credential_columns() for one account, with the shared argon2/SCRAM part reused."""
    address = f"{local}@{domain}"
    return {
        **shared,
        "ha1_md5": digest.ha1("MD5", local, domain, PASSWORD),
        "ha1_sha256": digest.ha1("SHA-256", local, domain, PASSWORD),
        "ha1_md5_address": digest.ha1("MD5", address, domain, PASSWORD),
        "ha1_sha256_address": digest.ha1("SHA-256", address, domain, PASSWORD),
    }


def check_credential_layout(shared: dict[str, Any]) -> None:
    """Fail early if credential_columns() and our shortcut disagree on columns or values."""
    real = credential_columns(PASSWORD, local="user0", domain=DOMAIN, scram_iterations=SCRAM_ITERATIONS)
    mine = account_credentials(shared, "user0", DOMAIN)
    if set(real) != set(mine):
        raise SystemExit(f"credential columns changed: {sorted(set(real) ^ set(mine))}; update the bench")
    for key in ("ha1_md5", "ha1_sha256", "ha1_md5_address", "ha1_sha256_address", "scram_iterations"):
        if real[key] != mine[key]:
            raise SystemExit(f"credential column {key} differs from credential_columns(); update the bench")
    if not passwords.verify_password(mine["password_hash"], PASSWORD):
        raise SystemExit("shared argon2 hash does not verify")


async def populate(url: str, accounts: int, *, seed: int, analyze: bool) -> DataSet:
    rng = random.Random(seed)
    tables = Base.metadata.tables
    t_domains, t_domain_aliases = tables["domains"], tables["domain_aliases"]
    t_addresses, t_accounts = tables["addresses"], tables["accounts"]
    t_aliases, t_forwarders = tables["aliases"], tables["forwarders"]
    t_groups, t_members = tables["groups"], tables["group_members"]
    now = datetime.now(UTC)
    data = DataSet(accounts=accounts)

    started = time.perf_counter()
    shared = shared_credentials()
    check_credential_layout(shared)
    data.credential_seconds = time.perf_counter() - started

    domains = [DOMAIN] + [f"d{i}.bench-neighbour.test" for i in range(1, EXTRA_DOMAINS + 1)]
    engine = create_engine(url)
    next_id = 1
    rows = 0

    def entry(domain_id: int, local: str, kind: str) -> dict[str, Any]:
        nonlocal next_id
        row = {
            "id": next_id,
            "domain_id": domain_id,
            "local": local,
            "kind": kind,
            "created_at": now,
            "updated_at": now,
        }
        next_id += 1
        return row

    def account_row(address_id: int, local: str, domain: str) -> dict[str, Any]:
        return {
            "address_id": address_id,
            "real_name": f"Bench {local}",
            "enabled": True,
            "quota_bytes": None,
            "quota_messages": None,
            "domain_admin": False,
            "settings": {},
            **account_credentials(shared, local, domain),
        }

    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(t_domains),
                [
                    {"id": i + 1, "name": name, "enabled": True, "settings": {}, "created_at": now}
                    for i, name in enumerate(domains)
                ],
            )
            await conn.execute(insert(t_domain_aliases), [{"name": DOMAIN_ALIAS, "domain_id": 1}])
            rows += len(domains) + 1

        # Accounts: the big domain, then the neighbours.
        plan: list[tuple[int, str, str]] = [(1, DOMAIN, account_local(i)) for i in range(accounts)]
        for d, name in enumerate(domains[1:], start=2):
            plan += [(d, name, account_local(i)) for i in range(EXTRA_ACCOUNTS)]
        for start in range(0, len(plan), BATCH):
            entries, creds = [], []
            for domain_id, domain, local in plan[start : start + BATCH]:
                row = entry(domain_id, local, "account")
                entries.append(row)
                creds.append(account_row(row["id"], local, domain))
            async with engine.begin() as conn:
                await conn.execute(insert(t_addresses), entries)
                await conn.execute(insert(t_accounts), creds)
            rows += 2 * len(entries)

        def some_account() -> str:
            return f"{account_local(rng.randrange(accounts))}@{DOMAIN}"

        # Aliases (one in ten accounts has one), forwarders, groups.
        n_aliases, n_forwarders, n_groups = accounts // 10, max(1, accounts // 100), max(1, accounts // 1000)
        alias_plan = [(f"alias{j}", some_account()) for j in range(n_aliases)]
        for start in range(0, len(alias_plan), BATCH):
            entries, targets = [], []
            for local, target in alias_plan[start : start + BATCH]:
                row = entry(1, local, "alias")
                entries.append(row)
                targets.append({"address_id": row["id"], "target": target})
                data.aliases[local] = target
            async with engine.begin() as conn:
                await conn.execute(insert(t_addresses), entries)
                await conn.execute(insert(t_aliases), targets)
            rows += 2 * len(entries)

        entries, forwards = [], []
        for j in range(n_forwarders):
            row = entry(1, f"fwd{j}", "forwarder")
            entries.append(row)
            forwards.append({"address_id": row["id"], "targets": [some_account(), f"ext{j}@{REMOTE}"]})
        async with engine.begin() as conn:
            await conn.execute(insert(t_addresses), entries)
            await conn.execute(insert(t_forwarders), forwards)
        rows += 2 * len(entries)
        data.forwarders = n_forwarders

        entries, groups, members = [], [], []
        for j in range(n_groups):
            local = f"group{j}"
            row = entry(1, local, "group")
            entries.append(row)
            groups.append({"address_id": row["id"], "real_name": f"Group {j}"})
            chosen = [f"{account_local(i)}@{DOMAIN}" for i in rng.sample(range(accounts), min(20, accounts))]
            members += [{"group_id": row["id"], "member": m} for m in chosen]
            data.groups[local] = chosen
        async with engine.begin() as conn:
            await conn.execute(insert(t_addresses), entries)
            await conn.execute(insert(t_groups), groups)
            await conn.execute(insert(t_members), members)
        rows += 2 * len(entries) + len(members)

        if analyze:
            # What autovacuum does on a live PostgreSQL soon after a bulk load.
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    data.rows = rows
    data.seconds = time.perf_counter() - started
    return data


# --- request builders ---------------------------------------------------------------


Check = Callable[[dict[str, Any]], bool]
Item = tuple[str, bytes, Check]


def _resolve(address: str, check: Check) -> Item:
    return contract.RPC_RESOLVE, json.dumps({"address": address}).encode(), check


class Requests:
    """Precomputed request payloads and reply checks, so the timed loop only does I/O."""

    def __init__(self, data: DataSet, seed: int) -> None:
        self.data = data
        self.rng = random.Random(seed)
        self.alias_names = sorted(data.aliases)
        self.group_names = sorted(data.groups)
        # SCRAM: every account has the same salted password, so ClientKey and StoredKey
        # are computed once; each proof is then one HMAC over its own auth message.
        salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), SCRAM_SALT, SCRAM_ITERATIONS)
        self.client_key = hmac.digest(salted, b"Client Key", "sha256")
        self.stored_key = hashlib.sha256(self.client_key).digest()
        self.server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._check_scram_shortcut()

    def _check_scram_shortcut(self) -> None:
        message = "n=user0@bench.test,r=a,r=ab,s=x,i=4096,c=biws,r=ab"
        proof, signature = self._scram_proof(message)
        if (proof, signature) != scram.client_proof(
            PASSWORD, salt=SCRAM_SALT, iterations=SCRAM_ITERATIONS, auth_message=message
        ):
            raise SystemExit("client-side SCRAM shortcut disagrees with libs.auth.scram.client_proof")

    def _scram_proof(self, auth_message: str) -> tuple[str, str]:
        signature = hmac.digest(self.stored_key, auth_message.encode(), "sha256")
        proof = bytes(a ^ b for a, b in zip(self.client_key, signature, strict=True))
        server_signature = hmac.digest(self.server_key, auth_message.encode(), "sha256")
        return base64.b64encode(proof).decode(), base64.b64encode(server_signature).decode()

    def account(self) -> tuple[str, str]:
        local = account_local(self.rng.randrange(self.data.accounts))
        return local, f"{local}@{DOMAIN}"

    def resolve_account(self) -> Item:
        _local, address = self.account()
        return _resolve(address, lambda r: r["status"] == "local" and r["accounts"] == [address])

    def resolve_alias(self) -> Item:
        local = self.rng.choice(self.alias_names)
        target = self.data.aliases[local]
        return _resolve(f"{local}@{DOMAIN}", lambda r: r["status"] == "local" and r["accounts"] == [target])

    def resolve_group(self) -> Item:
        local = self.rng.choice(self.group_names)
        members = set(self.data.groups[local])
        return _resolve(f"{local}@{DOMAIN}", lambda r: r["status"] == "local" and set(r["accounts"]) == members)

    def resolve_unknown(self) -> Item:
        address = f"nobody{self.rng.randrange(10**9)}@{DOMAIN}"
        return _resolve(address, lambda r: r["status"] == "unknown")

    def _digest(self, *, correct: bool) -> Item:
        local, address = self.account()
        fields = {
            "nonce": f"{self.rng.getrandbits(64):016x}",
            "uri": f"sip:{DOMAIN}",
            "method": "REGISTER",
            "algorithm": "SHA-256",
            "qop": "auth",
            "nc": "00000001",
            "cnonce": f"{self.rng.getrandbits(48):012x}",
        }
        ha1 = digest.ha1("SHA-256", local, DOMAIN, PASSWORD)
        response = digest.expected_response(ha1_hex=ha1, **fields)
        if not correct:
            response = ("0" if response[0] != "0" else "1") + response[1:]
        payload = json.dumps(
            {
                "mechanism": "DIGEST",
                "username": local,
                "protocol": "sip",
                "digest": {"realm": DOMAIN, **fields, "response": response},
            }
        ).encode()
        if correct:
            return contract.RPC_AUTH, payload, lambda r: r["ok"] is True and r["account"] == address
        return contract.RPC_AUTH, payload, lambda r: r["ok"] is False and r["failure"] == "invalid_credentials"

    def auth_digest(self) -> Item:
        return self._digest(correct=True)

    def auth_digest_wrong(self) -> Item:
        return self._digest(correct=False)

    def auth_scram(self) -> Item:
        _local, address = self.account()
        salt_b64 = base64.b64encode(SCRAM_SALT).decode()
        cnonce = base64.b64encode(self.rng.randbytes(18)).decode()
        nonce = cnonce + base64.b64encode(self.rng.randbytes(18)).decode()
        auth_message = f"n={address},r={cnonce},r={nonce},s={salt_b64},i={SCRAM_ITERATIONS},c=biws,r={nonce}"
        proof, signature = self._scram_proof(auth_message)
        payload = json.dumps(
            {
                "mechanism": "SCRAM-SHA-256",
                "username": address,
                "protocol": "imap",
                "scram": {"auth_message": auth_message, "client_proof": proof},
            }
        ).encode()
        return (
            contract.RPC_AUTH,
            payload,
            lambda r: r["ok"] is True and r["account"] == address and r["server_signature"] == signature,
        )

    def auth_plain(self) -> Item:
        _local, address = self.account()
        payload = json.dumps(
            {"mechanism": "PLAIN", "username": address, "password": PASSWORD, "protocol": "imap"}
        ).encode()
        return contract.RPC_AUTH, payload, lambda r: r["ok"] is True and r["account"] == address

    def mixed(self) -> Item:
        """Warm-up traffic: every measured kind, groups rarely (they are the slow ones)."""
        kinds = [
            self.resolve_account,
            self.resolve_alias,
            self.resolve_unknown,
            self.auth_digest,
            self.auth_scram,
            self.auth_digest_wrong,
        ]
        if self.rng.random() < 0.02:
            return self.resolve_group()
        return self.rng.choice(kinds)()


# --- measuring ------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int
    concurrency: int
    latencies: list[float]
    wall: float
    errors: int
    first_error: str = ""
    service_cpu: float | None = None
    truncated: bool = False

    def pct(self, q: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.done / self.wall if self.wall > 0 else float("nan")

    @property
    def cpu_per_request_ms(self) -> float:
        if self.service_cpu is None or not self.done:
            return float("nan")
        return self.service_cpu / self.done * 1000


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class Profiler:
    """Optional py-spy recording of the directory process, one raw (collapsed-stack) file per phase."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.executable: str | None = None
        if directory is not None:
            beside = Path(sys.executable).parent / "py-spy"
            self.executable = str(beside) if beside.is_file() else shutil.which("py-spy")
            if self.executable is None:
                raise SystemExit("--profile needs py-spy (pip install py-spy)")
            directory.mkdir(parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def phase(self, name: str, concurrency: int, pid: int | None) -> AsyncIterator[None]:
        if self.directory is None or self.executable is None or pid is None:
            yield
            return
        slug = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
        out = self.directory / f"{slug}_c{concurrency}.txt"
        command = [self.executable, "record", "-p", str(pid), "-o", str(out), "--format", "raw", "-r", "200"]
        spy = subprocess.Popen(command + ["--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(0.5)
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(20)


async def run_phase(
    nc: Any, name: str, items: list[Item], concurrency: int, *, service_pid: int | None, max_seconds: float
) -> Result:
    latencies: list[float] = []
    errors = 0
    first_error = ""
    next_index = 0
    perf = time.perf_counter
    stop_at = perf() + max_seconds
    truncated = False

    async def worker() -> None:
        nonlocal next_index, errors, first_error, truncated
        while next_index < len(items):
            if perf() > stop_at:
                truncated = True
                return
            subject, payload, check = items[next_index]
            next_index += 1
            started = perf()
            try:
                msg = await nc.request(subject, payload, timeout=REQUEST_TIMEOUT)
            except Exception as exc:  # a timeout or a lost connection: counted, not timed
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                continue
            latencies.append(perf() - started)
            problem = ""
            if msg.headers and ERROR_CODE_HEADER in msg.headers:
                problem = f"service error {msg.headers.get(ERROR_CODE_HEADER)}: {msg.headers.get('Nats-Service-Error')}"
            else:
                try:
                    if not check(json.loads(msg.data)):
                        problem = f"unexpected reply {msg.data[:300]!r}"
                except (ValueError, KeyError, TypeError) as exc:
                    problem = f"bad reply {exc!r}: {msg.data[:300]!r}"
            if problem:
                errors += 1
                first_error = first_error or problem

    cpu_before = process_cpu_seconds(service_pid) if service_pid else None
    started = perf()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = perf() - started
    cpu_after = process_cpu_seconds(service_pid) if service_pid else None
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Result(name, len(items), concurrency, latencies, wall, errors, first_error, cpu, truncated)


def measure_argon2(count: int) -> Result:
    """argon2id verify in this process, nothing else running in the benchmark."""
    stored = passwords.hash_password(PASSWORD)
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        ok = passwords.verify_password(stored, PASSWORD)
        latencies.append(time.perf_counter() - t0)
        assert ok
    return Result("argon2 verify (in-process)", count, 1, latencies, time.perf_counter() - started, 0)


# --- output -----------------------------------------------------------------------------


def fmt(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> "-"


def print_table(results: list[Result]) -> None:
    header = (
        "operation",
        "requests",
        "conc",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "req/s",
        "svc cpu ms/req",
        "errors",
    )
    rows = [header]
    for r in results:
        count = f"{r.done}" + ("*" if r.truncated else "")
        rows.append(
            (
                r.name,
                count,
                str(r.concurrency),
                fmt(r.pct(0.50)),
                fmt(r.pct(0.90)),
                fmt(r.pct(0.99)),
                fmt(r.pct(1.0)),
                fmt(r.rate, 0),
                fmt(r.cpu_per_request_ms),
                str(r.errors),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(widths[i]) for i, cell in enumerate(row[1:], start=1)]
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if any(r.truncated for r in results):
        print("* stopped by the phase time limit before all requests were sent")
    for r in results:
        if r.first_error:
            print(f"first error in {r.name!r}: {r.first_error}")


def machine_notes() -> str:
    if MACHINE_SH.is_file():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["bash", str(MACHINE_SH)], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f'host={platform.node()} nproc={os.cpu_count()} cpu="{cpu}" load="{load}" '
        f"kernel={platform.release()} python={platform.python_version()} "
        f"date={datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


# --- the run --------------------------------------------------------------------------


async def measure(
    args: argparse.Namespace, nats_url: str, data: DataSet, service_pid: int | None, deadline: float
) -> list[Result]:
    nc = await nats.connect(nats_url, name="bench-directory-rpc", connect_timeout=10)
    profiler = Profiler(args.profile)
    requests = Requests(data, seed=args.seed + 1)
    n, c = args.requests, args.concurrency
    n1 = max(1, n // 4)
    phases: list[tuple[str, Callable[[], Item], int, int]] = []
    if c > 1:  # pure latency first; with --concurrency 1 the main rows are that already
        phases += [
            ("resolve account", requests.resolve_account, n1, 1),
            ("auth DIGEST SHA-256", requests.auth_digest, n1, 1),
            ("auth SCRAM-SHA-256", requests.auth_scram, n1, 1),
        ]
    phases += [
        ("resolve account", requests.resolve_account, n, c),
        ("resolve alias", requests.resolve_alias, n, c),
        ("resolve group (20 members)", requests.resolve_group, n, c),
        ("resolve unknown (local domain)", requests.resolve_unknown, n, c),
        ("auth DIGEST SHA-256", requests.auth_digest, n, c),
        ("auth SCRAM-SHA-256", requests.auth_scram, n, c),
        ("auth DIGEST wrong response", requests.auth_digest_wrong, n, c),
    ]
    if c > 1:
        phases.append(("auth PLAIN (argon2)", requests.auth_plain, max(1, args.plain_requests // 4), 1))
    phases.append(("auth PLAIN (argon2)", requests.auth_plain, args.plain_requests, c))
    results: list[Result] = []
    try:
        warm = [requests.mixed() for _ in range(args.warmup)]
        warm_result = await run_phase(
            nc,
            "warm-up (mixed, not reported)",
            warm,
            c,
            service_pid=service_pid,
            max_seconds=min(WARMUP_SECONDS, max(5.0, deadline - time.monotonic())),
        )
        print(
            f"warm-up: {warm_result.done} mixed requests in {warm_result.wall:.1f}s, {warm_result.errors} errors",
            flush=True,
        )
        if warm_result.errors:
            print(f"  first error: {warm_result.first_error}", flush=True)
        for name, build, count, concurrency in phases:
            remaining = deadline - time.monotonic()
            if remaining < 2:
                print(f"skipped {name} c={concurrency}: run time limit reached", flush=True)
                continue
            items = [build() for _ in range(count)]
            async with profiler.phase(name, concurrency, service_pid):
                result = await run_phase(
                    nc,
                    name,
                    items,
                    concurrency,
                    service_pid=service_pid,
                    max_seconds=min(args.phase_seconds, remaining),
                )
            results.append(result)
            print(
                f"  {name:<32} c={concurrency:<3} n={result.done:<6} p50={fmt(result.pct(0.5))} "
                f"p99={fmt(result.pct(0.99))} ms  {fmt(result.rate, 0)} req/s  errors={result.errors}",
                flush=True,
            )
    finally:
        await nc.close()
    return results


def start_service(work: Path, nats_url: str, database_url: str) -> ServiceProcess:
    admin_port, ops_port = free_ports(2)
    data_dir = work / "directory"
    env = {
        "PARLEY_DATA_DIR": str(data_dir),
        "PARLEY_NATS_URL": nats_url,
        "PARLEY_BIND_HOST": "127.0.0.1",
        "PARLEY_LOG_LEVEL": "warning",
        "PARLEY_DIRECTORY_DATABASE_URL": database_url,
        "PARLEY_DIRECTORY_ADMIN_PORT": str(admin_port),
        "PARLEY_DIRECTORY_OPS_PORT": str(ops_port),
        "PARLEY_DIRECTORY_MIGRATE_ON_START": "false",
        # The failure path is measured, not throttled.
        "PARLEY_DIRECTORY_AUTH_MAX_FAILURES_ACCOUNT": "1000000000",
        "PARLEY_DIRECTORY_AUTH_MAX_FAILURES_CLIENT": "1000000000",
    }
    return ServiceProcess("directory", env=env, ops_port=ops_port, data_dir=data_dir).start()


def summary(
    results: list[Result], argon2: Result | None, data: DataSet, args: argparse.Namespace, load_before: str
) -> list[str]:
    def find(name: str, concurrency: int) -> Result | None:
        return next((r for r in results if r.name == name and r.concurrency == concurrency), None)

    def pct(name: str, concurrency: int, q: float) -> float:
        r = find(name, concurrency)
        return r.pct(q) if r else float("nan")

    def p99(name: str, concurrency: int) -> float:
        return pct(name, concurrency, 0.99)

    c = args.concurrency
    resolve_names = ["resolve account", "resolve alias", "resolve group (20 members)", "resolve unknown (local domain)"]
    auth_names = ["auth DIGEST SHA-256", "auth SCRAM-SHA-256", "auth DIGEST wrong response"]

    def worst(names: list[str], concurrency: int) -> float:
        values = [v for v in (p99(n, concurrency) for n in names) if v == v]
        return max(values) if values else float("nan")

    resolve_worst, auth_worst = worst(resolve_names, c), worst(auth_names, c)
    resolve_worst_c1, auth_worst_c1 = worst(resolve_names, 1), worst(auth_names, 1)
    account = find("resolve account", c)
    errors = sum(r.errors for r in results)

    def verdict(value: float, target: float) -> str:
        return "-" if value != value else ("yes" if value < target else "no")

    lines = [
        f"database={args.database}",
        f"accounts={data.accounts}",
        f"aliases={len(data.aliases)} forwarders={data.forwarders} groups={len(data.groups)}",
        f"population_seconds={data.seconds:.1f}",
        f"population_rows={data.rows}",
        "password_hash=one argon2id hash shared by every account (verify cost measured separately)",
        f"concurrency={c}",
        f"directory_resolve_p99_ms={fmt(p99('resolve account', c), 3)}",
        f"directory_resolve_c1_p99_ms={fmt(p99('resolve account', 1), 3)}",
        f"directory_resolve_alias_p99_ms={fmt(p99('resolve alias', c), 3)}",
        f"directory_resolve_group_p99_ms={fmt(p99('resolve group (20 members)', c), 3)}",
        f"directory_resolve_unknown_p99_ms={fmt(p99('resolve unknown (local domain)', c), 3)}",
        f"directory_resolve_worst_p99_ms={fmt(resolve_worst, 3)}",
        f"directory_resolve_rps={fmt(account.rate if account else float('nan'), 0)}",
        f"directory_auth_digest_p99_ms={fmt(p99('auth DIGEST SHA-256', c), 3)}",
        f"directory_auth_digest_c1_p99_ms={fmt(p99('auth DIGEST SHA-256', 1), 3)}",
        f"directory_auth_scram_p99_ms={fmt(p99('auth SCRAM-SHA-256', c), 3)}",
        f"directory_auth_scram_c1_p99_ms={fmt(p99('auth SCRAM-SHA-256', 1), 3)}",
        f"directory_auth_digest_fail_p99_ms={fmt(p99('auth DIGEST wrong response', c), 3)}",
        f"directory_auth_worst_p99_ms={fmt(auth_worst, 3)}",
        f"directory_auth_plain_p99_ms={fmt(p99('auth PLAIN (argon2)', c), 3)}",
        f"directory_auth_plain_c1_p50_ms={fmt(pct('auth PLAIN (argon2)', 1, 0.5), 3)}",
        f"argon2_verify_ms={fmt(argon2.pct(0.5) if argon2 else float('nan'), 1)}",
        f"argon2_verify_p99_ms={fmt(argon2.pct(0.99) if argon2 else float('nan'), 1)}",
    ]
    levels = [(1, resolve_worst_c1, auth_worst_c1)] + ([(c, resolve_worst, auth_worst)] if c > 1 else [])
    for level, resolve_p99, auth_p99 in levels:
        lines.append(
            f"target_resolve_p99_under_{TARGET_RESOLVE_P99_MS:g}ms_c{level}="
            f"{verdict(resolve_p99, TARGET_RESOLVE_P99_MS)}"
        )
        lines.append(f"target_auth_p99_under_{TARGET_AUTH_P99_MS:g}ms_c{level}={verdict(auth_p99, TARGET_AUTH_P99_MS)}")
    lines += [
        f"errors={errors}",
        f'load_before="{load_before}"',
        f"machine: {machine_notes()}",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts in bench.test (default 100000)")
    parser.add_argument(
        "--requests",
        type=int,
        default=20_000,
        help="requests per measured operation at --concurrency (default 20000; a quarter at c=1)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent requests in flight (default 8)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="work in DIR and keep it (SQLite file, service and nats logs); default: a temp dir",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record each measured phase of the directory process with py-spy into DIR (pip install py-spy)",
    )
    parser.add_argument("--warmup", type=int, default=3000, help="mixed warm-up requests (default 3000)")
    parser.add_argument("--plain-requests", type=int, default=200, help="PLAIN (argon2) logins (default 200)")
    parser.add_argument("--argon2-samples", type=int, default=50, help="in-process argon2 verifies (default 50)")
    parser.add_argument("--phase-seconds", type=float, default=30.0, help="time limit of one phase (default 30)")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=500.0,
        help="overall limit in seconds, set-up included; later phases are skipped (default 500)",
    )
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    if args.accounts < 1 or args.requests < 1 or args.concurrency < 1:
        parser.error("--accounts, --requests and --concurrency must be positive")

    deadline = time.monotonic() + args.time_limit
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.keep:
        work = args.keep.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="parley-bench-directory-"))
    nats_server: NatsServer | None = None
    postgres = None
    service: ServiceProcess | None = None
    try:
        nats_server = NatsServer(jetstream=False).start()
        if args.database == "postgresql":
            from libs.testing.postgres import start_postgres

            print("starting PostgreSQL ...", flush=True)
            postgres = start_postgres()
            database_url = postgres.url
        else:
            db_path = work / "directory.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            database_url = f"sqlite+aiosqlite:///{db_path}"
        print(f"nats {nats_server.url}, database {args.database}, work dir {work}", flush=True)

        started = time.perf_counter()
        upgrade("directory", database_url)
        print(f"schema created in {time.perf_counter() - started:.1f}s; populating ...", flush=True)
        data = asyncio.run(populate(database_url, args.accounts, seed=args.seed, analyze=args.database == "postgresql"))
        print(
            f"populated {data.accounts} accounts in {DOMAIN} (+{EXTRA_DOMAINS}x{EXTRA_ACCOUNTS} in neighbour "
            f"domains), {len(data.aliases)} aliases, {data.forwarders} forwarders, {len(data.groups)} groups x 20: "
            f"{data.rows} rows in {data.seconds:.1f}s (one shared argon2 hash and SCRAM keys: "
            f"{data.credential_seconds:.2f}s; per-account digest HA1)",
            flush=True,
        )

        service = start_service(work, nats_server.url, database_url)
        pid = service.process.pid if service.process else None
        print(f"directory service ready (pid {pid})", flush=True)
        try:
            import uvloop

            runner: Callable[..., Any] = uvloop.run
        except ImportError:
            runner = asyncio.run
        results = runner(measure(args, nats_server.url, data, pid, deadline))
        if service.process is not None and service.process.poll() is not None:
            print(f"directory service died during the run:\n{service.log_tail()}", flush=True)
        argon2 = measure_argon2(args.argon2_samples) if args.argon2_samples > 0 else None

        print()
        print(
            f"directory RPC latency: {data.accounts} accounts, {args.database}, client in one process "
            f"(raw nats request, latency = request sent to reply received)"
        )
        print_table(results + ([argon2] if argon2 else []))
        print()
        for line in summary(results, argon2, data, args, load_before):
            print(line)
        errors = sum(r.errors for r in results)
        return 1 if errors else 0
    finally:
        if service is not None:
            service.stop()
        if nats_server is not None:
            if args.keep:
                with contextlib.suppress(OSError):
                    shutil.copy(nats_server.log_path, work / "nats-server.log")
            nats_server.close()
        if postgres is not None:
            postgres.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
