"""Call rates of Parley's B2BUA with media anchored in the real relay, beside the plain proxy, with sipp.

    .venv/bin/python bench/sip_b2bua.py                     # defaults: 2 runs of each mode
    .venv/bin/python bench/sip_b2bua.py --calls 2000 --call-rate 150 --runs 3

Measurement only: no assertions, a table and `key=value` lines. nats-server,
the directory, one media node and two sip processes (one with
`PARLEY_SIP_MEDIA_MODE=anchor`, one with `proxy`) on free loopback ports.
Load: sipp UAC (`uac_call.xml`, an SDP offer) -> sip -> sipp UAS
(`uas_answer.xml`, 180 and 200 with an SDP answer), INVITE/100/180/200/ACK/
BYE/200 with no hold time and no RTP: the cost of signalling plus the relay
commands (OFFER, ANSWER, DELETE) and three acked CDR records per call.
After the runs the anchored-call gauge of the B2BUA and the media node's
session gauge show whether any call was left behind.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
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

from bench.sip import DOMAIN, PASSWORD, provision, sipp, start_directory  # noqa: E402
from libs.testing.natsd import NatsServer  # noqa: E402
from libs.testing.ports import free_ports  # noqa: E402
from libs.testing.services import ServiceProcess  # noqa: E402


def start_sip(data_dir: Path, nats_url: str, mode: str) -> tuple[ServiceProcess, int]:
    port, tls_port, ops = free_ports(3)
    process = ServiceProcess(
        "sip",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_LOG_LEVEL": "warning",
            "PARLEY_NODE_NAME": f"sip-{mode}",
            "PARLEY_SIP_UDP_PORT": str(port),
            "PARLEY_SIP_TCP_PORT": str(port),
            "PARLEY_SIP_TLS_PORT": str(tls_port),
            "PARLEY_SIP_OPS_PORT": str(ops),
            "PARLEY_SIP_WS_PORT": "0",
            "PARLEY_SIP_DIGEST_ALGORITHMS": '["MD5"]',
            "PARLEY_SIP_CLIENT_RATE": "0",
            "PARLEY_SIP_MEDIA_MODE": mode,
        },
        ops_port=ops,
        data_dir=data_dir,
    ).start()
    return process, port


def start_media(data_dir: Path, nats_url: str, pairs: int) -> ServiceProcess:
    low = random.randrange(30000, 50000, 2)
    (ops,) = free_ports(1)
    return ServiceProcess(
        "media",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_LOG_LEVEL": "warning",
            "PARLEY_NODE_NAME": "media-bench",
            "PARLEY_MEDIA_PORT_MIN": str(low),
            "PARLEY_MEDIA_PORT_MAX": str(low + 4 * pairs - 1),
            "PARLEY_MEDIA_BIND_ADDRESS": "127.0.0.1",
            "PARLEY_MEDIA_OPS_PORT": str(ops),
        },
        ops_port=ops,
        data_dir=data_dir,
    ).start()


def gauge(ops_port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{ops_port}/metrics").text
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else -1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--calls", type=int, default=600, help="calls per run")
    parser.add_argument("--call-rate", type=int, default=60)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        sys.exit("sipp is missing: apt-get install sip-tester")

    work = args.keep or Path(tempfile.mkdtemp(prefix="parley-b2bbench-"))
    work.mkdir(parents=True, exist_ok=True)
    nats = NatsServer().start()
    processes: list[ServiceProcess] = []
    results: dict[str, list[tuple[float, int, int]]] = {"anchor": [], "proxy": []}
    left: dict[str, float] = {}
    try:
        directory, admin_url = start_directory(work / "directory", nats.url)
        processes.append(directory)
        media = start_media(work / "media", nats.url, pairs=max(args.call_rate * 4, 100))
        processes.append(media)
        sips = {}
        for mode in results:
            sip, port = start_sip(work / f"sip-{mode}", nats.url, mode)
            processes.append(sip)
            sips[mode] = (sip, port)
        provision(admin_url, args.users)
        callees = iter(range(args.users))
        for _ in range(args.runs):
            for mode, (_, port) in sips.items():
                # A fresh callee each time: the bindings of earlier runs' (stopped) UAS would get forks too.
                callee = next(callees)
                target = f"127.0.0.1:{port}"
                reg_port, uas_port, uac_port = free_ports(3)
                reg = [f"user{callee};{DOMAIN};{PASSWORD};127.0.0.1:{uas_port};"
                       f"[authentication username=user{callee} password={PASSWORD}]"]  # fmt: skip
                sipp(work, "register_auth.xml", target, reg, calls=1, rate=1, port=reg_port)
                uas = sipp(work, "uas_answer.xml", None, ["x"], calls=args.calls, rate=args.call_rate, port=uas_port,
                           background=True)  # fmt: skip
                rows = [
                    f"user{(callee + 1 + i % (args.users - 1)) % args.users};user{callee};{DOMAIN}"
                    for i in range(args.calls)
                ]
                outcome = sipp(work, "uac_call.xml", target, rows, calls=args.calls, rate=args.call_rate,
                               port=uac_port)  # fmt: skip
                assert isinstance(outcome, tuple) and isinstance(uas, subprocess.Popen)
                results[mode].append(outcome)
                try:
                    uas.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    uas.kill()
                    uas.wait()
        time.sleep(40)  # a caller that gave up never ACKs: its 2xx stops after 64*T1 and the call ends
        left["anchored_calls_after"] = gauge(sips["anchor"][0].ops_port, "parley_sip_anchored_calls")
        left["media_sessions_after"] = gauge(media.ops_port, "parley_media_sessions")
    finally:
        for process in reversed(processes):
            process.stop()
        nats.close()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print(f"# Parley SIP B2BUA, {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(" ".join(f"{name}={int(value)}" for name, value in left.items()))
    print(f"{'mode':<10} {'per run':>8} {'offered/s':>10} {'median/s':>10} {'runs/s':>20} {'failed':>8}")
    for mode, runs in results.items():
        rates = [ok / elapsed for elapsed, ok, _ in runs if elapsed > 0]
        failed = sum(f for _, _, f in runs)
        median = statistics.median(rates) if rates else 0.0
        shown = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{mode:<10} {args.calls:>8} {args.call_rate:>10} {median:>10.0f} {shown:>20} {failed:>8}")
        print(f"calls_{mode}_per_s={median:.0f} calls_{mode}_failed={failed}")


if __name__ == "__main__":
    main()
