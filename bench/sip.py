"""SIP rates of Parley beside Kamailio, measured with sipp in one run, and 100,000 registered contacts.

    .venv/bin/python bench/sip.py                             # both servers, ramp + 3 runs, 100k contacts
    .venv/bin/python bench/sip.py --runs 1 --contacts 20000   # quicker
    .venv/bin/python bench/sip.py --no-peer --contacts 0      # Parley alone, no contacts measurement
    .venv/bin/python bench/sip.py --keep DIR                  # keep logs and sipp files in DIR

Measurement only: no assertions, a table and `key=value` lines.

Parley runs as `parley up` runs it: nats-server (JetStream, `sync_interval:
always`), the directory (SQLite) and the sip service (`--sip-workers`
processes sharing the ports), on free loopback ports in a temporary data
dir. Accounts `user0..userN` of `bench.test` are written straight into the
directory database as bench/directory_rpc.py does (one shared argon2 hash,
real per-account digest HA1). Kamailio (the peer) is installed and started by the peer kit's
`setup.sh` (`--peer-dir`, default `../shared/bench/sip` beside the
repository): its digest instance on udp 127.0.0.1:5071 (any user, password
`pass`, usrloc in memory) gets the same loads as Parley. The loads
(scenarios in tests/sip/sipp/, the same files for both servers):

- `register-challenge`: REGISTER -> 401 (what the registrar answers before
  authentication; neither server registers unauthenticated users here).
- `register-digest`: REGISTER -> 401 -> REGISTER with MD5 digest -> 200 (on
  Parley the directory checks the response and the binding is written to
  the KV bucket `sip_locations` and acked before the 200).
- `calls`: sipp UAC -> proxy (stateful, Record-Route, the callee found in
  the location service) -> sipp UAS: INVITE/100/180/200/ACK/BYE/200.

Each load is first ramped over the `--*-rates` list (`--step-seconds` of
load per step) until fewer than 90% of the offered rate complete or 1% fail;
then `--runs` runs at the best passing rate give the median. Both servers
get the same ramp.

`--contacts N` (default 100,000) then starts a fresh Parley, writes
N / `--contacts-per-account` accounts straight into the directory database
(as bench/directory_rpc.py does: one shared argon2 hash, real per-account
digest HA1), and registers every account once through the sip service with
a REGISTER carrying `--contacts-per-account` Contacts (digest, 401 then 200):
many contacts for fewer accounts, each a distinct binding in
`sip_locations`. It reports the time it took, the bindings read back from
the bucket, the size on disk of nats-server's JetStream store and of the
bucket, and the RSS of nats-server and the sip processes before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import directory_rpc  # noqa: E402
import nats  # noqa: E402

from libs.contracts import sip as sip_contract  # noqa: E402
from libs.db.migrations import upgrade  # noqa: E402
from libs.testing.natsd import NatsServer  # noqa: E402
from libs.testing.ports import free_ports  # noqa: E402
from libs.testing.services import ServiceProcess  # noqa: E402

DOMAIN = "bench.test"
ADMIN_PASSWORD = "bench admin password"
SCENARIOS = ROOT / "tests" / "sip" / "sipp"
PEER_TARGET = "127.0.0.1:5071"  # the peer kit's Kamailio with digest authentication
PEER_PASSWORD = "pass"
LOADS = ("register-challenge", "register-digest", "calls")


@dataclass
class Step:
    offered: int
    elapsed: float
    ok: int
    failed: int

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def passed(self) -> bool:
        total = self.ok + self.failed
        return total > 0 and self.failed < 0.01 * total and self.rate >= 0.9 * self.offered


# --- Parley -------------------------------------------------------------------------


def start_directory(data_dir: Path, nats_url: str, database_url: str | None = None) -> tuple[ServiceProcess, str]:
    admin_port, ops_port = free_ports(2)
    process = ServiceProcess(
        "directory",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_LOG_LEVEL": "warning",
            "PARLEY_DIRECTORY_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{data_dir / 'directory.sqlite3'}",
            "PARLEY_DIRECTORY_ADMIN_PORT": str(admin_port),
            "PARLEY_DIRECTORY_OPS_PORT": str(ops_port),
            "PARLEY_DIRECTORY_ADMIN_PASSWORD": ADMIN_PASSWORD,
            # The bench logs in thousands of times from one address: no throttling.
            "PARLEY_DIRECTORY_AUTH_MAX_FAILURES_CLIENT": "1000000",
            "PARLEY_DIRECTORY_AUTH_MAX_FAILURES_ACCOUNT": "1000000",
        },
        ops_port=ops_port,
        data_dir=data_dir,
    ).start()
    return process, f"http://127.0.0.1:{admin_port}/api/v1"


def start_sip(data_dir: Path, nats_url: str, *, workers: int, max_contacts: int = 10) -> tuple[ServiceProcess, int]:
    port, tls_port, ops = free_ports(3)
    process = ServiceProcess(
        "sip",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_LOG_LEVEL": "warning",
            "PARLEY_SIP_UDP_PORT": str(port),
            "PARLEY_SIP_TCP_PORT": str(port),
            "PARLEY_SIP_TLS_PORT": str(tls_port),
            "PARLEY_SIP_OPS_PORT": str(ops),
            "PARLEY_SIP_WS_PORT": "0",
            "PARLEY_SIP_DIGEST_ALGORITHMS": '["MD5"]',  # sipp answers MD5 only
            "PARLEY_SIP_CLIENT_RATE": "0",  # every sipp request comes from one address
            "PARLEY_SIP_MAX_CONTACTS": str(max_contacts),
            "PARLEY_SIP_WORKERS": str(workers),
        },
        ops_port=ops,
        data_dir=data_dir,
    ).start()
    return process, port


def populate(base: Path, accounts: int) -> tuple[str, float]:
    """A directory database with `accounts` accounts in bench.test, written in bulk (bench/directory_rpc.py)."""
    base.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite+aiosqlite:///{base / 'directory.sqlite3'}"
    started = time.monotonic()
    upgrade("directory", database_url)
    asyncio.run(directory_rpc.populate(database_url, accounts, seed=1, analyze=False))
    return database_url, time.monotonic() - started


# --- sipp ---------------------------------------------------------------------------


def sipp(work: Path, scenario: Path, target: str | None, rows: list[str], *, calls: int, rate: int, port: int,
         recv_timeout: int = 5000, background: bool = False,
         limit: int | None = None) -> subprocess.Popen[str] | Step:  # fmt: skip
    inf = work / f"{scenario.stem}-{port}.csv"
    inf.write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
    count = ["-m", str(calls)] if calls else []
    # Bounded in time whatever happens; a closed loop (`limit`) may run at 50/s; a UAS (no count) is
    # stopped by the bench when the server's loads are over.
    bound = max(60, 3 * calls // max(rate if limit is None else 50, 1) + 30) if calls else 1800
    command = ["sipp", *([target] if target else []), "-sf", str(scenario), "-inf", str(inf),
               "-i", "127.0.0.1", "-p", str(port), *count, "-r", str(rate), "-l", str(limit or max(rate * 4, 100)),
               "-nostdin", "-timeout", f"{bound}s", "-max_socket", "1000",
               "-recv_timeout", str(recv_timeout), "-trace_err",
               "-error_file", str(work / f"{scenario.stem}-{port}.err")]  # fmt: skip
    if background:
        return subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=bound + 30)
    ok, failed = counts(result.stdout)
    return Step(rate, sipp_elapsed(result.stdout) or time.monotonic() - started, ok, failed)


def sipp_elapsed(screen: str) -> float:
    """From sipp's start to its last screen (its own clock), without the process start-up."""
    start = re.findall(r"Start Time\s*\|\s*\S+\s+\S+\s+([\d.]+)", screen)
    current = re.findall(r"Current Time\s*\|\s*\S+\s+\S+\s+([\d.]+)", screen)
    return float(current[-1]) - float(start[-1]) if start and current else 0.0


def counts(screen: str) -> tuple[int, int]:
    def cumulative(label: str) -> int:
        found = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
        return int(found[-1]) if found else 0

    return cumulative("Successful call"), cumulative("Failed call")


@dataclass
class Server:
    name: str
    target: str
    password: str
    accounts: int
    uas: subprocess.Popen[str] | None = None  # the callee's phone, for every calls step

    def rows(self, n: int, contact_port: int, *, first: int = 1) -> list[str]:
        """Registration rows for user<first>.. (user0, the callee, is registered only at the UAS)."""
        users = [f"user{first + i % (self.accounts - first)}" for i in range(n)]
        return [f"{u};{DOMAIN};{self.password};127.0.0.1:{contact_port};"
                f"[authentication username={u} password={self.password}]" for u in users]  # fmt: skip

    def stop_uas(self) -> None:
        if self.uas is not None:
            self.uas.terminate()
            try:
                self.uas.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.uas.kill()
                self.uas.wait()
            self.uas = None


def run_load(work: Path, server: Server, load: str, rate: int, seconds: float) -> Step:
    count = max(int(rate * seconds), 50)
    if load != "calls":
        scenario = "register_challenge.xml" if load == "register-challenge" else "register_auth.xml"
        p1, p2 = free_ports(2)
        outcome = sipp(work, SCENARIOS / scenario, server.target, server.rows(count, p2), calls=count, rate=rate,
                       port=p1)  # fmt: skip
        assert isinstance(outcome, Step)
        return outcome
    # Calls: user0 is the callee, registered once at the UAS's port (its only contact); the UAS
    # answers until the server's loads are over.
    if server.uas is None:
        reg_port, uas_port = free_ports(2)
        server.uas = sipp(work, SCENARIOS / "uas_answer.xml", None, ["x"], calls=0, rate=1, port=uas_port,
                          background=True, limit=100_000)  # type: ignore[assignment]  # fmt: skip
        callee = server.rows(1, uas_port, first=0)
        # Contacts left by an earlier run (the peer keeps its location table) would fork calls to dead ports.
        sipp(work, unregister_scenario(work), server.target, callee, calls=1, rate=1, port=reg_port)
        sipp(work, SCENARIOS / "register_auth.xml", server.target, callee, calls=1, rate=1, port=reg_port)
    (uac_port,) = free_ports(1)
    rows = [f"user{1 + i % (server.accounts - 1)};user0;{DOMAIN}" for i in range(count)]
    outcome = sipp(work, SCENARIOS / "uac_call.xml", server.target, rows, calls=count, rate=rate, port=uac_port)
    assert isinstance(outcome, Step)
    return outcome


def ramp(work: Path, server: Server, load: str, rates: list[int], seconds: float) -> tuple[int, list[Step]]:
    best, steps = 0, []
    for rate in rates:
        step = run_load(work, server, load, rate, seconds)
        steps.append(step)
        print(f"  ramp {server.name} {load} offered={rate}/s achieved={step.rate:.0f}/s ok={step.ok} "
              f"failed={step.failed}", flush=True)  # fmt: skip
        if not step.passed():
            break
        best = rate
        time.sleep(1)
    return best, steps


def measure(work: Path, server: Server, args: argparse.Namespace) -> dict[str, list[Step]]:
    rates = {"register-challenge": args.register_rates, "register-digest": args.digest_rates,
             "calls": args.call_rates}  # fmt: skip
    results: dict[str, list[Step]] = {}
    try:
        for load in LOADS:
            best, steps = ramp(work, server, load, rates[load], args.step_seconds)
            if best == 0:  # not even the first rate passed: report what it did
                results[load] = steps[:1]
                continue
            results[load] = []
            for _ in range(args.runs):
                time.sleep(2)
                step = run_load(work, server, load, best, 2 * args.step_seconds)
                print(f"  run {server.name} {load} offered={best}/s achieved={step.rate:.0f}/s failed={step.failed}",
                      flush=True)  # fmt: skip
                results[load].append(step)
    finally:
        server.stop_uas()
    return results


def start_peer(peer_dir: Path) -> None:
    setup = peer_dir / "setup.sh"
    if not setup.exists():
        sys.exit(f"no peer kit at {peer_dir} (use --peer-dir, or --no-peer)")
    subprocess.run(["bash", str(setup)], check=True, timeout=600, stdout=subprocess.DEVNULL)


# --- 100,000 registered contacts ----------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (the sip workers), KiB."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(found.group(1)) if found else 0
    return total


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            out += [kid, *children(kid)]
    return out


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def unregister_scenario(work: Path) -> Path:
    """register_auth.xml removing every contact of the user (`Contact: *`, `Expires: 0`)."""
    text = (SCENARIOS / "register_auth.xml").read_text()
    text = text.replace("Contact: <sip:[field0]@[field3]>", "Contact: *").replace("Expires: 300", "Expires: 0")
    path = work / "unregister_all.xml"
    path.write_text(text)
    return path


def contacts_scenario(work: Path, per_account: int) -> Path:
    contacts = ", ".join(f"<sip:[field0]-{k}@[field3]>" for k in range(per_account))
    text = (SCENARIOS / "register_auth.xml").read_text()
    text = text.replace("Contact: <sip:[field0]@[field3]>", f"Contact: {contacts}")
    text = text.replace("Expires: 300", "Expires: 3600")
    path = work / "register_contacts.xml"
    path.write_text(text)
    return path


async def count_bindings(nats_url: str) -> tuple[int, int]:
    client = await nats.connect(nats_url)
    try:
        kv = await client.jetstream().key_value(sip_contract.LOCATION_BUCKET)
        keys = await kv.keys()
        bindings = 0
        for start in range(0, len(keys), 200):
            entries = await asyncio.gather(*(kv.get(k) for k in keys[start : start + 200]))
            for entry in entries:
                record = sip_contract.LocationRecord.model_validate_json(entry.value)
                bindings += len(record.bindings)
        return len(keys), bindings
    finally:
        await client.close()


def measure_contacts(work: Path, args: argparse.Namespace) -> dict[str, str]:
    per_account = args.contacts_per_account
    accounts = -(-args.contacts // per_account)
    base = work / "contacts"
    database_url, populated = populate(base, accounts)
    nats_server = NatsServer().start()
    processes: list[ServiceProcess] = []
    try:
        directory, _ = start_directory(base / "directory", nats_server.url, database_url)
        processes.append(directory)
        sip, port = start_sip(base / "sip", nats_server.url, workers=args.sip_workers, max_contacts=per_account)
        processes.append(sip)
        assert sip.process is not None and nats_server._process is not None
        nats_pid, sip_pid = nats_server._process.pid, sip.process.pid
        time.sleep(2)
        before = {"nats": rss_kib(nats_pid), "sip": rss_kib(sip_pid), "store": disk_bytes(nats_server.store_dir)}
        server = Server("parley", f"127.0.0.1:{port}", directory_rpc.PASSWORD, accounts)
        p1, p2 = free_ports(2)
        step = sipp(work, contacts_scenario(work, per_account), server.target, server.rows(accounts, p2, first=0),
                    calls=accounts, rate=args.contacts_rate, port=p1, recv_timeout=10000,
                    limit=args.contacts_in_flight)  # fmt: skip
        assert isinstance(step, Step)
        keys, bindings = asyncio.run(count_bindings(nats_server.url))
        stream = f"KV_{sip_contract.LOCATION_BUCKET}"
        bucket = sum(f.stat().st_size for f in nats_server.store_dir.rglob("*") if stream in f.parts and f.is_file())
        after = {"nats": rss_kib(nats_pid), "sip": rss_kib(sip_pid), "store": disk_bytes(nats_server.store_dir)}
    finally:
        for process in reversed(processes):
            process.stop()
        nats_server.close()
    return {
        "contacts_accounts": str(accounts),
        "contacts_per_account": str(per_account),
        "contacts_directory_populate_s": f"{populated:.1f}",
        "contacts_registers_ok": str(step.ok),
        "contacts_registers_failed": str(step.failed),
        "contacts_register_s": f"{step.elapsed:.1f}",
        "contacts_per_s": f"{step.ok * per_account / step.elapsed:.0f}" if step.elapsed else "0",
        "contacts_bucket_keys": str(keys),
        "contacts_bindings": str(bindings),
        "contacts_kv_bucket_disk_mib": f"{bucket / 2**20:.1f}",
        "contacts_jetstream_disk_mib": f"{after['store'] / 2**20:.1f}",
        "contacts_jetstream_disk_before_mib": f"{before['store'] / 2**20:.1f}",
        "contacts_nats_rss_mib": f"{after['nats'] / 1024:.1f}",
        "contacts_nats_rss_before_mib": f"{before['nats'] / 1024:.1f}",
        "contacts_sip_rss_mib": f"{after['sip'] / 1024:.1f}",
        "contacts_sip_rss_before_mib": f"{before['sip'] / 1024:.1f}",
    }


# --- report -------------------------------------------------------------------------


def median_rate(steps: list[Step]) -> float:
    return statistics.median(s.rate for s in steps) if steps else 0.0


def report(results: dict[str, dict[str, list[Step]]], contacts: dict[str, str], args: argparse.Namespace) -> None:
    print(f"# Parley SIP beside Kamailio, {platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, sip workers {args.sip_workers}")  # fmt: skip
    names = list(results)
    header = f"{'load':<20}" + "".join(f" {n + ' /s':>16} {n + ' runs':>24}" for n in names)
    print(header + (f" {'ratio':>7}" if len(names) == 2 else ""))
    for load in LOADS:
        line = f"{load:<20}"
        for name in names:
            steps = results[name].get(load, [])
            line += f" {median_rate(steps):>16.0f} {', '.join(f'{s.rate:.0f}' for s in steps):>24}"
        if len(names) == 2:
            peer = median_rate(results[names[1]].get(load, []))
            line += f" {median_rate(results[names[0]].get(load, [])) / peer if peer else 0:>7.3f}"
        print(line)
    for load in LOADS:
        key = load.replace("-", "_")
        fields = []
        for name in names:
            steps = results[name].get(load, [])
            fields += [f"{name}_{key}_per_s={median_rate(steps):.0f}",
                       f"{name}_{key}_offered={steps[-1].offered if steps else 0}",
                       f"{name}_{key}_failed={sum(s.failed for s in steps)}"]  # fmt: skip
        if len(names) == 2:
            peer = median_rate(results[names[1]].get(load, []))
            ratio = median_rate(results[names[0]].get(load, [])) / peer if peer else 0.0
            fields.append(f"ratio_{key}_{names[0]}_over_{names[1]}={ratio:.3f}")
        print(" ".join(fields))
    if contacts:
        print(" ".join(f"{k}={v}" for k, v in contacts.items()))


def rate_list(text: str) -> list[int]:
    return [int(r) for r in text.replace(",", " ").split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200, help="accounts of the loads")
    parser.add_argument("--register-rates", type=rate_list, default=rate_list("250 500 1000 2000 4000 8000 16000"))
    parser.add_argument("--digest-rates", type=rate_list, default=rate_list("100 250 500 1000 2000 4000 8000"))
    parser.add_argument("--call-rates", type=rate_list, default=rate_list("50 100 200 400 800 1600"))
    parser.add_argument("--step-seconds", type=float, default=4.0, help="seconds of load per ramp step")
    parser.add_argument("--runs", type=int, default=3, help="runs at the best ramp rate (median)")
    parser.add_argument("--sip-workers", type=int, default=1, help="sip processes sharing the ports")
    parser.add_argument("--no-peer", action="store_true", help="Parley only")
    parser.add_argument("--peer-dir", type=Path, default=ROOT.parent / "shared" / "bench" / "sip")
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to register (0: skip)")
    parser.add_argument("--contacts-per-account", type=int, default=10)
    parser.add_argument("--contacts-rate", type=int, default=1000, help="REGISTERs per second offered at most")
    parser.add_argument("--contacts-in-flight", type=int, default=20,
                        help="REGISTERs outstanding at once (sipp -l): the server sets the pace")  # fmt: skip
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    if shutil.which("sipp") is None and args.no_peer:
        sys.exit("sipp is missing: apt-get install sip-tester")
    if not args.no_peer:
        start_peer(args.peer_dir)  # installs kamailio and sipp when missing

    work = args.keep or Path(tempfile.mkdtemp(prefix="parley-sipbench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[Step]]] = {}
    contacts: dict[str, str] = {}
    try:
        nats_server = NatsServer().start()
        processes: list[ServiceProcess] = []
        try:
            database_url, _ = populate(work / "loads", args.users)
            directory, _ = start_directory(work / "directory", nats_server.url, database_url)
            processes.append(directory)
            sip, port = start_sip(work / "sip", nats_server.url, workers=args.sip_workers)
            processes.append(sip)
            server = Server("parley", f"127.0.0.1:{port}", directory_rpc.PASSWORD, args.users)
            results["parley"] = measure(work, server, args)
        finally:
            for process in reversed(processes):
                process.stop()
            nats_server.close()
        if not args.no_peer:
            results["kamailio"] = measure(work, Server("kamailio", PEER_TARGET, PEER_PASSWORD, args.users), args)
        if args.contacts > 0:
            contacts = measure_contacts(work, args)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report(results, contacts, args)


if __name__ == "__main__":
    main()
