"""RTP relay throughput of Parley's media service beside rtpengine (userspace) and the loopback ceiling.

    .venv/bin/python bench/media.py                       # rtpengine, Parley, loopback; RUNS=3 each
    .venv/bin/python bench/media.py --streams 20 --runs 1 --step-secs 3
    .venv/bin/python bench/media.py --skip-peer           # Parley and the ceiling only

Measurement only: no assertions, `key=value` lines and a table. The load is the shared RTP
bench (`run.sh` beside `setup.sh`, `ng.py` and `udp_blast.c` in the bench tools directory,
`--tools`): a C blaster sends paced RTP-sized packets (12 + 160 bytes, a 20 ms G.711 frame)
for STREAMS one-way calls to the relay's A-side ports and counts what arrives at the B-side
ports, ramping the total rate until loss reaches 1 %, then repeating the last good step.

Three targets, one after the other on the same machine:

- rtpengine in userspace mode (`--table=-1`), installed and started by `setup.sh`, driven
  over its NG control protocol (`ng.py`);
- Parley: a nats-server and one media process (`python -m services.media`, as many relay
  threads as cores, as rtpengine starts as many workers) on free loopback ports; `run.sh`'s
  SETUP_CMD / TEARDOWN_CMD hooks call this script's `setup` / `teardown` commands, which
  create the calls through `media.rpc.offer` and the node's `answer` subject (and delete
  them) and print the `a_port:relay_port:b_port` lines;
- the loopback ceiling: the same blaster sending straight from a to b, no relay.

After the throughput ramps it measures the one-way latency of a single stream at 50 packets/s
(one 20 ms call) through each relay and direct, while the blaster keeps STREAMS-1 other calls
going at the rate Parley sustained: the difference to direct is the latency the relay adds.
Then the concurrent-calls phase: `--calls` numbers of 20 ms streams at 50 packets/s each plus
the probe, reporting the most streams each relay carries with under 1 ms added p99 latency
and no loss.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from libs.testing.natsd import NatsServer  # noqa: E402
from libs.testing.ports import free_port  # noqa: E402
from libs.testing.services import ServiceProcess  # noqa: E402

DEFAULT_TOOLS = Path(os.environ.get("PARLEY_BENCH_TOOLS", "../shared/bench/rtp"))
PARLEY_PORTS = (32000, 33999)  # rtpengine's setup uses 30000-30999; the blaster 40000+
RELAY_THREADS = os.cpu_count() or 1
A_BASE = 40000  # as ng.py: call i sends from 40000+4i and receives on 40002+4i
RESULT = re.compile(r"rtp_relay_pps_median=([\d.]+) pps \(min ([\d.]+) max ([\d.]+); ramp best offered (\d+)")


# --- SETUP_CMD / TEARDOWN_CMD: calls through the bus ----------------------------------------


async def create_calls(nats_url: str, streams: int, state: Path) -> list[str]:
    from libs.bus import Bus
    from libs.contracts import media as contract

    bus = await Bus.open(nats_url, name="media-bench", timeout=10)
    lines, calls = [], []
    try:
        for i in range(streams):
            a, b = A_BASE + 4 * i, A_BASE + 2 + 4 * i
            call_id = f"bench-{uuid.uuid4().hex}"
            offer = await bus.request(
                contract.OFFER, contract.OfferRequest(call_id=call_id, from_tag="fa", sdp=_sdp(a)), contract.SdpReply
            )
            answer = await bus.request(
                contract.node_subject(offer.node, contract.ANSWER),
                contract.AnswerRequest(call_id=call_id, from_tag="fa", to_tag="tb", sdp=_sdp(b)),
                contract.SdpReply,
            )
            calls.append({"call_id": call_id, "node": offer.node})
            lines.append(f"{a}:{_audio_port(answer.sdp)}:{b}")
    finally:
        state.write_text(json.dumps(calls))
        await bus.close()
    return lines


async def delete_calls(nats_url: str, state: Path) -> None:
    from libs.bus import Bus
    from libs.contracts import media as contract

    bus = await Bus.open(nats_url, name="media-bench", timeout=10)
    try:
        for call in json.loads(state.read_text()) if state.exists() else []:
            ref = contract.SessionRef(call_id=call["call_id"])
            await bus.request(contract.node_subject(call["node"], contract.DELETE), ref, contract.StatsReply)
    finally:
        await bus.close()


def _sdp(port: int) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )


def _audio_port(sdp: str) -> int:
    return next(int(line.split()[1]) for line in sdp.splitlines() if line.startswith("m=audio "))


# --- the three targets ---------------------------------------------------------------------


def run_ramp(tools: Path, env: dict[str, str], label: str, *, pid: int | None = None) -> dict[str, float]:
    """run.sh's ramp; with the relay's `pid`, also its CPU time per relayed packet over the whole ramp."""
    print(f"# {label}: {tools / 'run.sh'}", flush=True)
    cpu_before = _cpu_seconds(pid)
    done = subprocess.run(
        ["bash", str(tools / "run.sh")], env={**os.environ, **env}, capture_output=True, text=True, timeout=3600
    )
    cpu = _cpu_seconds(pid) - cpu_before
    sys.stdout.write(_indent(done.stdout))
    sys.stdout.write(_indent(done.stderr))
    relayed = sum(int(n) for n in re.findall(r" received=(\d+)", done.stderr))
    match = RESULT.search(done.stdout)
    result = {"pps": 0.0, "min": 0.0, "max": 0.0, "offered": 0.0, "cpu_us_per_packet": 0.0}
    if match:
        result.update(zip(("pps", "min", "max", "offered"), (float(x) for x in match.groups()), strict=True))
    if pid is not None and relayed:
        result["cpu_us_per_packet"] = cpu * 1e6 / relayed
    return result


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process, all threads (proc(5): fields 14 and 15)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _command(argv: list[str]) -> str:
    """A command for run.sh, which splits `$SETUP_CMD` on blanks without removing quotes."""
    if any(" " in arg or "'" in arg or '"' in arg for arg in argv):
        raise SystemExit(f"paths with blanks or quotes cannot pass through run.sh: {argv}")
    return " ".join(argv)


def _indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.splitlines())


def start_parley(data_dir: Path, nats: NatsServer) -> ServiceProcess:
    ops = free_port()
    process = ServiceProcess(
        "media",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats.url,
            "PARLEY_LOG_LEVEL": "warning",
            "PARLEY_NODE_NAME": "media-bench",
            "PARLEY_MEDIA_PORT_MIN": str(PARLEY_PORTS[0]),
            "PARLEY_MEDIA_PORT_MAX": str(PARLEY_PORTS[1]),
            "PARLEY_MEDIA_OPS_PORT": str(ops),
            "PARLEY_MEDIA_INACTIVITY_TIMEOUT": "600",
            # As many relay threads as cores, as rtpengine starts as many workers as cores.
            "PARLEY_MEDIA_THREADS": str(RELAY_THREADS),
        },
        ops_port=ops,
        data_dir=data_dir,
    )
    return process.start()


def ceiling_lines(streams: int) -> str:
    """Blaster specs with the relay port equal to the sink: packets go straight from a to b."""
    return " ".join(f"{A_BASE + 4 * i}:{A_BASE + 2 + 4 * i}:{A_BASE + 2 + 4 * i}" for i in range(streams))


# --- latency ------------------------------------------------------------------------------


def one_way_latency(send_to: int, *, count: int, a_port: int, b_port: int) -> dict[str, float]:
    """Send `count` RTP packets every 20 ms from a_port to `send_to`; time each one's arrival at b_port."""
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", a_port))
    b.bind(("127.0.0.1", b_port))
    b.settimeout(0.2)
    samples, lost = [], 0
    try:
        for seq in range(count):
            sent = time.perf_counter_ns()
            packet = struct.pack("!BBHIIQ", 0x80, 0, seq, seq * 160, 0x5EED, sent) + b"\xff" * 152
            a.sendto(packet, ("127.0.0.1", send_to))
            try:
                data = b.recv(2048)
                samples.append((time.perf_counter_ns() - struct.unpack_from("!Q", data, 12)[0]) / 1000)
            except TimeoutError:
                lost += 1
            time.sleep(max(0.0, 0.02 - (time.perf_counter_ns() - sent) / 1e9))
    finally:
        a.close()
        b.close()
    samples.sort()
    if not samples:
        return {"p50_us": 0.0, "p99_us": 0.0, "lost": float(lost)}
    return {
        "p50_us": statistics.median(samples),
        "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "lost": float(lost),
    }


def latency_under_load(
    tools: Path, setup: list[str], teardown: list[str] | None, *, streams: int, rate: float, secs: int
) -> dict[str, float]:
    """Latency of stream 0 while streams 1.. carry `rate` packets/s in total through the same relay;
    `load_loss` is the blaster's loss on those other streams (percent)."""
    specs = subprocess.run(setup, capture_output=True, text=True, check=True).stdout.split()
    load = None
    if len(specs) > 1 and rate > 0:
        per_stream = max(1, int(rate / streams))
        load = subprocess.Popen(
            ["/var/tmp/udp_blast", str(secs + 2), str(per_stream), "160", *specs[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(0.5)
    a_port, relay_port, b_port = (int(x) for x in specs[0].split(":"))
    try:
        result = one_way_latency(relay_port, count=secs * 50, a_port=a_port, b_port=b_port)
    finally:
        output = load.communicate()[0] if load is not None else ""
        if teardown:
            subprocess.run(teardown, capture_output=True, check=False)
    loss = re.search(r"loss=([\d.]+)%", output)
    result["load_loss"] = float(loss.group(1)) if loss else 0.0
    return result


def calls_phase(targets: dict[str, Callable[[int], tuple[list[str], list[str] | None]]], steps: list[int], secs: int):
    """Concurrent 20 ms streams (50 packets/s each, as G.711 calls send) through each target:
    the probe stream's one-way latency and the loss of all the others, per number of streams."""
    table: dict[str, dict[int, dict[str, float]]] = {name: {} for name in targets}
    for streams in steps:
        for name, commands in targets.items():
            setup, teardown = commands(streams + 1)
            try:
                table[name][streams] = latency_under_load(
                    Path("."), setup, teardown, streams=streams + 1, rate=50 * (streams + 1), secs=secs
                )
            except subprocess.CalledProcessError as exc:  # e.g. rtpengine still holds deleted calls' ports
                print(f"# {name}: {streams + 1} streams could not be set up: {exc.stderr.strip()[-200:]}")
    return table


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    for name in ("setup", "teardown"):
        hook = sub.add_parser(name, help=f"run.sh's {name.upper()}_CMD for Parley")
        hook.add_argument("--nats", required=True)
        hook.add_argument("--state", required=True, type=Path)
        hook.add_argument("--streams", type=int, default=20)
    direct = sub.add_parser("direct", help="run.sh's SETUP_CMD for the loopback ceiling (no relay)")
    direct.add_argument("--streams", type=int, default=20)
    parser.add_argument("--tools", type=Path, default=DEFAULT_TOOLS, help="directory of run.sh and setup.sh")
    parser.add_argument("--streams", type=int, default=20)
    # run.sh's steps, continued upwards so that the ceiling (and a fast relay) is not capped by the ramp.
    parser.add_argument("--rates", default="20000 40000 80000 120000 160000 200000 260000 340000 440000 560000")
    parser.add_argument("--step-secs", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-secs", type=int, default=10)
    # Concurrent 20 ms streams besides the probe: the blaster handles 256 streams; rtpengine's
    # bench range (30000-30999) holds 250 calls, and keeps deleted calls' ports for a while.
    parser.add_argument("--calls", default="31 63 127 199", help="numbers of concurrent streams to try")
    parser.add_argument("--skip-peer", action="store_true", help="do not install or run rtpengine")
    args = parser.parse_args()

    if args.command == "setup":
        print("\n".join(asyncio.run(create_calls(args.nats, args.streams, args.state))))
        return
    if args.command == "direct":
        print(ceiling_lines(args.streams).replace(" ", "\n"))
        return
    if args.command == "teardown":
        asyncio.run(delete_calls(args.nats, args.state))
        return
    benchmark(args)


def benchmark(args: argparse.Namespace) -> None:
    tools = args.tools.resolve()
    common = {"STREAMS": str(args.streams), "RATES": args.rates, "STEP_SECS": str(args.step_secs)}
    common["RUNS"] = str(args.runs)
    results: dict[str, dict[str, float]] = {}
    latency: dict[str, dict[str, float]] = {}
    python = sys.executable
    if not args.skip_peer:
        subprocess.run(["bash", str(tools / "setup.sh")], check=True)
        pidfile = Path("/run/rtpengine-bench/rtpengine.pid")  # where setup.sh starts it
        peer_pid = int(pidfile.read_text()) if pidfile.exists() else None
        results["rtpengine"] = run_ramp(tools, common, "rtpengine userspace", pid=peer_pid)
    else:
        subprocess.run(["gcc", "-O2", "-o", "/var/tmp/udp_blast", str(tools / "udp_blast.c")], check=True)

    with tempfile.TemporaryDirectory(prefix="parley-media-bench-") as tmp, NatsServer() as nats:
        media = start_parley(Path(tmp) / "media", nats)
        try:
            state = Path(tmp) / "calls.json"
            me = [python, str(Path(__file__).resolve())]
            setup = [*me, "setup", "--nats", nats.url, "--state", str(state), "--streams", str(args.streams)]
            teardown = [*me, "teardown", "--nats", nats.url, "--state", str(state)]
            env = {**common, "SETUP_CMD": _command(setup), "TEARDOWN_CMD": _command(teardown)}
            pid = media.process.pid if media.process else None
            results["parley"] = run_ramp(tools, env, f"Parley media ({RELAY_THREADS} relay threads)", pid=pid)
            rate = results["parley"]["offered"]
            latency["parley"] = latency_under_load(
                tools, setup, teardown, streams=args.streams, rate=rate, secs=args.latency_secs
            )
            ng = os.environ.get("NG", "127.0.0.1:2223")
            if not args.skip_peer:
                tag = uuid.uuid4().hex[:8]
                ng_setup = [python, str(tools / "ng.py"), ng, "setup", str(args.streams), tag]
                ng_teardown = [python, str(tools / "ng.py"), ng, "delete", str(args.streams), tag]
                latency["rtpengine"] = latency_under_load(
                    tools, ng_setup, ng_teardown, streams=args.streams, rate=rate, secs=args.latency_secs
                )
            direct = [*me, "direct", "--streams", str(args.streams)]
            ceiling_env = {**common, "SETUP_CMD": _command(direct), "TEARDOWN_CMD": "true"}
            results["loopback"] = run_ramp(tools, ceiling_env, "loopback ceiling (blaster a -> b, no relay)")
            latency["loopback"] = latency_under_load(
                tools, direct, None, streams=args.streams, rate=rate, secs=args.latency_secs
            )

            def parley_calls(n: int) -> tuple[list[str], list[str] | None]:
                return [*setup[:-1], str(n)], teardown

            def rtpengine_calls(n: int) -> tuple[list[str], list[str] | None]:
                tag = uuid.uuid4().hex[:8]  # a fresh call-id namespace each time (RESULTS.md notes)
                ng_py = [python, str(tools / "ng.py"), ng]
                return [*ng_py, "setup", str(n), tag], [*ng_py, "delete", str(n), tag]

            def direct_calls(n: int) -> tuple[list[str], list[str] | None]:
                return [*me, "direct", "--streams", str(n)], None

            targets = {"parley": parley_calls, "loopback": direct_calls}
            if not args.skip_peer:
                targets["rtpengine"] = rtpengine_calls
            steps = [int(x) for x in args.calls.split()]
            calls = calls_phase(targets, steps, args.latency_secs)
        finally:
            media.stop()
    report(results, latency)
    report_calls(calls, steps)


def report_calls(calls: dict[str, dict[int, dict[str, float]]], steps: list[int]) -> None:
    """Per number of concurrent 20 ms streams: probe latency and loss; the most each relay sustains
    with under 1 ms added latency (p99 minus the direct path's) and no loss."""
    print()
    print("| streams at 50 pps | " + " | ".join(f"{name} p50 / p99 us, loss %" for name in calls) + " |")
    print("|---" * (len(calls) + 1) + "|")
    for n in steps:
        cells = [
            f"{c[n]['p50_us']:.0f} / {c[n]['p99_us']:.0f}, {c[n]['load_loss'] + c[n]['lost']:.2f}" if n in c else "-"
            for c in calls.values()
        ]
        print(f"| {n + 1} | " + " | ".join(cells) + " |")
    for name in ("parley", "rtpengine"):
        if name not in calls:
            continue
        ok = [
            n
            for n in steps
            if n in calls[name]
            and n in calls["loopback"]
            and calls[name][n]["lost"] == 0
            and calls[name][n]["load_loss"] == 0
            and calls[name][n]["p99_us"] - calls["loopback"][n]["p99_us"] < 1000
        ]
        best = max(ok) + 1 if ok else 0
        print(f"media_{name}_streams_under_1ms_no_loss={best} (of {max(steps) + 1} tried; a call is two streams)")


def report(results: dict[str, dict[str, float]], latency: dict[str, dict[str, float]]) -> None:
    print()
    print("| target | relayed pps (median) | min-max | best offered | one-way p50 / p99 (us) | CPU us/packet |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        lat = latency.get(name, {})
        lat_text = f"{lat['p50_us']:.0f} / {lat['p99_us']:.0f} (lost {lat['lost']:.0f})" if lat else "-"
        cpu = f"{r['cpu_us_per_packet']:.2f}" if r["cpu_us_per_packet"] else "-"
        row = f"| {name} | {r['pps']:.0f} | {r['min']:.0f}-{r['max']:.0f} | {r['offered']:.0f} | {lat_text} | {cpu} |"
        print(row)
    parley = results["parley"]["pps"]
    for name, r in results.items():
        print(f"media_{name}_pps={r['pps']:.0f}")
    if results.get("rtpengine", {}).get("pps"):
        print(f"media_parley_vs_rtpengine={parley / results['rtpengine']['pps']:.2f}")
    for name in ("parley", "rtpengine"):
        per_packet = results.get(name, {}).get("cpu_us_per_packet")
        if per_packet:  # what one core could relay at this cost, independent of the blaster's limit
            print(f"media_{name}_cpu_us_per_packet={per_packet:.2f} pps_per_core={1e6 / per_packet:.0f}")
    if results["loopback"]["pps"]:
        print(f"media_parley_vs_loopback_ceiling={parley / results['loopback']['pps']:.2f}")
    base = latency.get("loopback", {}).get("p50_us")
    for name in ("parley", "rtpengine"):
        if name in latency and base is not None:
            added = latency[name]["p50_us"] - base
            added99 = latency[name]["p99_us"] - latency["loopback"]["p99_us"]
            print(f"media_{name}_added_latency_p50_us={added:.0f} p99_us={added99:.0f}")


if __name__ == "__main__":
    main()
