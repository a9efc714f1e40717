"""SIP rates of Parley measured with sipp: REGISTER challenge, REGISTER with digest, calls.

    .venv/bin/python bench/sip.py                          # defaults: 3 runs of each load
    .venv/bin/python bench/sip.py --registers 2000 --calls 500 --runs 1
    .venv/bin/python bench/sip.py --keep DIR              # keep logs and sipp files in DIR

Measurement only: no assertions, a table and `key=value` lines. Parley runs
as `parley up` runs it: nats-server (JetStream, `sync_interval: always`), the
directory (SQLite) and one sip process, on free loopback ports in a temporary
data dir. Accounts `user0..userN` of `bench.test` are created through the
admin API. The loads (scenarios in tests/sip/sipp/):

- `register-challenge`: REGISTER -> 401 (nonce, no directory round trip):
  what the registrar answers before authentication; Parley has no
  unauthenticated REGISTER, so this stands for the "no auth" load.
- `register-digest`: REGISTER -> 401 -> REGISTER with MD5 digest -> 200
  (the directory checks the response; the binding is written to the KV
  bucket `sip_locations` and acked before the 200).
- `calls`: sipp UAC -> Parley (stateful, Record-Route) -> sipp UAS:
  INVITE/100/180/200/ACK/BYE/200, no hold time.
- `subscribes`: a presence watcher's whole life (`subscribe_presence.xml`):
  SUBSCRIBE -> 401 -> SUBSCRIBE with digest -> 200, NOTIFY with the
  composed PIDF (read from the `presence` bucket and `sip_locations`) -> 200,
  unsubscribe -> 200, final NOTIFY -> 200.

For each run: completed per second (successful sipp "calls" over the wall
clock time of the sipp run) and the failed count. The rates sipp offers are
options; above what the service sustains, requests queue, sipp's 10 s
receive timeout fails them and the completed rate drops, so run near the
knee (the defaults are near it on a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from libs.testing.natsd import NatsServer  # noqa: E402
from libs.testing.ports import free_ports  # noqa: E402
from libs.testing.services import ServiceProcess  # noqa: E402

DOMAIN = "bench.test"
PASSWORD = "bench-password-1"
ADMIN_PASSWORD = "bench admin password"
SCENARIOS = Path(__file__).resolve().parent.parent / "tests" / "sip" / "sipp"


def start_directory(data_dir: Path, nats_url: str) -> tuple[ServiceProcess, str]:
    admin_port, ops_port = free_ports(2)
    process = ServiceProcess(
        "directory",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_LOG_LEVEL": "warning",
            "PARLEY_DIRECTORY_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'directory.sqlite3'}",
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


def start_sip(data_dir: Path, nats_url: str) -> tuple[ServiceProcess, int]:
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
        },
        ops_port=ops,
        data_dir=data_dir,
    ).start()
    return process, port


def provision(admin_url: str, users: int) -> None:
    with httpx.Client(base_url=admin_url, auth=("admin", ADMIN_PASSWORD), timeout=60) as admin:
        admin.post("/domains", json={"name": DOMAIN})
        for i in range(users):
            admin.post("/accounts", json={"address": f"user{i}@{DOMAIN}", "password": PASSWORD})


def sipp(work: Path, scenario: str, target: str | None, rows: list[str], *, calls: int, rate: int, port: int,
         background: bool = False) -> subprocess.Popen[str] | tuple[float, int, int]:  # fmt: skip
    inf = work / f"{scenario}-{port}.csv"
    inf.write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
    command = ["sipp", *([target] if target else []), "-sf", str(SCENARIOS / scenario), "-inf", str(inf),
               "-i", "127.0.0.1", "-p", str(port), "-m", str(calls), "-r", str(rate), "-l", str(max(rate * 4, 100)),
               "-nostdin", "-timeout", "300s", "-max_socket", "1000",
               "-recv_timeout", "10000", "-trace_err", "-error_file", str(work / f"{scenario}-{port}.err")]  # fmt: skip
    if background:
        return subprocess.Popen(command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - started
    return (elapsed, *counts(result.stdout))


def counts(screen: str) -> tuple[int, int]:
    def cumulative(label: str) -> int:
        found = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
        return int(found[-1]) if found else 0

    return cumulative("Successful call"), cumulative("Failed call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--registers", type=int, default=5000, help="REGISTERs per run (each load)")
    parser.add_argument("--register-rate", type=int, default=1500, help="sipp rate of the challenge load, per second")
    parser.add_argument("--digest-rate", type=int, default=350, help="sipp rate of the digest load, per second")
    parser.add_argument("--calls", type=int, default=1000, help="calls per run")
    parser.add_argument("--call-rate", type=int, default=120)
    parser.add_argument("--subscribes", type=int, default=1000, help="watcher lifetimes per run")
    parser.add_argument("--subscribe-rate", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        sys.exit("sipp is missing: apt-get install sip-tester")

    work = args.keep or Path(tempfile.mkdtemp(prefix="parley-sipbench-"))
    work.mkdir(parents=True, exist_ok=True)
    nats = NatsServer().start()
    processes: list[ServiceProcess] = []
    results: dict[str, list[tuple[float, int, int]]] = {
        "register-challenge": [], "register-digest": [], "calls": [], "subscribes": [],
    }  # fmt: skip
    try:
        directory, admin_url = start_directory(work / "directory", nats.url)
        processes.append(directory)
        sip, port = start_sip(work / "sip", nats.url)
        processes.append(sip)
        provision(admin_url, args.users)
        target = f"127.0.0.1:{port}"
        for _ in range(args.runs):
            (p1, p2) = free_ports(2)
            rows = [f"user{i % args.users};{DOMAIN};{PASSWORD};127.0.0.1:{p2};"
                    f"[authentication username=user{i % args.users} password={PASSWORD}]"
                    for i in range(args.registers)]  # fmt: skip
            for load, scenario, rate in (("register-challenge", "register_challenge.xml", args.register_rate),
                                         ("register-digest", "register_auth.xml", args.digest_rate)):  # fmt: skip
                outcome = sipp(work, scenario, target, rows, calls=args.registers, rate=rate, port=p1)
                assert isinstance(outcome, tuple)
                results[load].append(outcome)
            # Calls: user0 is the callee, registered at the UAS's port.
            reg_port, uas_port, uac_port = free_ports(3)
            reg = [
                f"user0;{DOMAIN};{PASSWORD};127.0.0.1:{uas_port};[authentication username=user0 password={PASSWORD}]"
            ]
            sipp(work, "register_auth.xml", target, reg, calls=1, rate=1, port=reg_port)
            uas = sipp(work, "uas_answer.xml", None, ["x"], calls=args.calls, rate=args.call_rate, port=uas_port,
                       background=True)  # fmt: skip
            call_rows = [f"user{1 + i % (args.users - 1)};user0;{DOMAIN}" for i in range(args.calls)]
            outcome = sipp(work, "uac_call.xml", target, call_rows, calls=args.calls, rate=args.call_rate,
                           port=uac_port)  # fmt: skip
            assert isinstance(outcome, tuple)
            results["calls"].append(outcome)
            assert isinstance(uas, subprocess.Popen)
            try:
                uas.wait(timeout=30)
            except subprocess.TimeoutExpired:
                uas.kill()
                uas.wait()
            (sub_port,) = free_ports(1)
            sub_rows = [f"user{i % args.users};user{(i + 1) % args.users};{DOMAIN};"
                        f"[authentication username=user{i % args.users} password={PASSWORD}]"
                        for i in range(args.subscribes)]  # fmt: skip
            outcome = sipp(work, "subscribe_presence.xml", target, sub_rows, calls=args.subscribes,
                           rate=args.subscribe_rate, port=sub_port)  # fmt: skip
            assert isinstance(outcome, tuple)
            results["subscribes"].append(outcome)
        time.sleep(35)  # UDP transactions end by timer (32 s at most): what is left is held state
        left = httpx.get(f"http://127.0.0.1:{sip.ops_port}/metrics").text
        held = {m.group(1): float(m.group(2)) for m in re.finditer(
            r"^(parley_sip_(?:transactions|proxy_contexts)) (\S+)$", left, re.M)}  # fmt: skip
    finally:
        for process in reversed(processes):
            process.stop()
        nats.close()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print(f"# Parley SIP, {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(" ".join(f"{name}_after={int(value)}" for name, value in held.items()))
    print(f"{'load':<20} {'per run':>8} {'median/s':>10} {'runs/s':>30} {'failed':>8}")
    for load, runs in results.items():
        rates = [ok / elapsed for elapsed, ok, _ in runs if elapsed > 0]
        failed = sum(f for _, _, f in runs)
        per_run = {"calls": args.calls, "subscribes": args.subscribes}.get(load, args.registers)
        shown = ", ".join(f"{r:.0f}" for r in rates)
        median = statistics.median(rates) if rates else 0.0
        print(f"{load:<20} {per_run:>8} {median:>10.0f} {shown:>30} {failed:>8}")
        print(f"{load.replace('-', '_')}_per_s={median:.0f} {load.replace('-', '_')}_failed={failed}")


if __name__ == "__main__":
    main()
