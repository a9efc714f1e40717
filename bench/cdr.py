#!/usr/bin/env python3
"""CDR ingest throughput: call events on the stream `CDR` into final records (and daily-file lines).

Starts nats-server (and for --database postgresql a throwaway PostgreSQL
cluster) on free loopback ports and the cdr service as a process, publishes
--calls calls (attempted, answered, ended: three events each, acknowledged
publishes from --concurrency tasks) and measures how fast the cdr service
turns them into final, filed rows:

    .venv/bin/python bench/cdr.py [--database sqlite|postgresql] [--calls 20000] [--batch-size 100]

Two figures: the sustained ingest rate with the stream filled in advance
(a backlog, as after a cdr restart), and the rate while events are being
published (end of publishing to the last row final). The peer figure for
comparison is Kamailio's call rate in the same machine (bench/RESULTS.md:
about 1,600 calls/s stateful with record-route): the rate of calls a SIP
front end produces, which the CDR writer must keep up with.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from libs.contracts import sip as contract  # noqa: E402
from libs.testing.natsd import NatsServer  # noqa: E402
from libs.testing.ports import free_ports  # noqa: E402
from libs.testing.services import ServiceProcess  # noqa: E402

KAMAILIO_CALLS_PER_SECOND = 1594  # bench/RESULTS.md, stateful proxy with record-route


def events(prefix: str, calls: int) -> list[contract.CallEvent]:
    start = datetime.now(UTC)
    out: list[contract.CallEvent] = []
    for i in range(calls):
        common = {"call_id": f"{prefix}{i}", "from_uri": f"sip:user{i % 1000}@bench.test",
                  "to_uri": f"sip:user{(i + 1) % 1000}@bench.test", "caller": f"user{i % 1000}@bench.test",
                  "callee": f"user{(i + 1) % 1000}@bench.test", "started_at": start, "node": "bench"}  # fmt: skip
        answered = start + timedelta(seconds=2)
        out += [
            contract.CallAttempted(**common),
            contract.CallAnswered(**common, answered_at=answered),
            contract.CallEnded(
                **common,
                answered_at=answered,
                ended_at=answered + timedelta(seconds=i % 300),
                status=200,
                ended_by="bye",
                disconnected_by="caller",
            ),  # fmt: skip
        ]
    return out


async def publish(url: str, batch: list[contract.CallEvent], concurrency: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    queue = iter(batch)
    started = time.perf_counter()

    async def worker() -> None:
        for event in queue:
            await js.publish(event.subject(), event.model_dump_json().encode(), stream=contract.CDR_STREAM)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await nc.close()
    return elapsed


async def wait_filed(database_url: str, prefix: str, calls: int, limit: float) -> float:
    engine = create_async_engine(database_url)
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as connection:
                done = await connection.scalar(
                    text("select count(*) from cdrs where call_id like :p and filed"), {"p": f"{prefix}%"}
                )
            if done >= calls:
                return time.perf_counter()
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
    raise SystemExit(f"only {done} of {calls} calls final after {limit:.0f} s")


def start_cdr(work: Path, nats_url: str, database_url: str, batch_size: int) -> ServiceProcess:
    api_port, ops_port = free_ports(2)
    return ServiceProcess("cdr", env={
        "PARLEY_DATA_DIR": str(work / "data"), "PARLEY_NATS_URL": nats_url, "PARLEY_LOG_LEVEL": "warning",
        "PARLEY_CDR_DATABASE_URL": database_url, "PARLEY_CDR_API_PORT": str(api_port),
        "PARLEY_CDR_OPS_PORT": str(ops_port), "PARLEY_CDR_FILE_DIR": str(work / "files"),
        "PARLEY_CDR_BATCH_SIZE": str(batch_size),
    }, ops_port=ops_port, data_dir=work / "data")  # fmt: skip


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="parley-bench-cdr-"))
    postgres = None
    if args.database == "postgresql":
        from libs.testing.postgres import start_postgres

        postgres = start_postgres()
        database_url = postgres.create_database("bench_cdr")
    else:
        database_url = f"sqlite+aiosqlite:///{work / 'cdr.sqlite3'}"
    with NatsServer() as server:
        cdr = start_cdr(work, server.url, database_url, args.batch_size).start()
        try:
            cdr.stop()  # the consumer exists now; fill the stream while nobody reads it
            backlog = events(f"b{uuid.uuid4().hex[:6]}-", args.calls)
            await publish(server.url, backlog, args.concurrency)
            cdr.start()
            started = time.perf_counter()
            finished = await wait_filed(database_url, backlog[0].call_id[:8], args.calls, args.time_limit)
            backlog_rate = args.calls / (finished - started)

            live = events(f"l{uuid.uuid4().hex[:6]}-", args.calls)
            started = time.perf_counter()
            published = await publish(server.url, live, args.concurrency)
            finished = await wait_filed(database_url, live[0].call_id[:8], args.calls, args.time_limit)
            live_rate = args.calls / (finished - started)
        finally:
            cdr.stop()
            if postgres is not None:
                postgres.close()
    print(f"{'figure':<44} {'calls/s':>10} {'events/s':>10}")
    print(f"{'cdr ingest of a backlog (' + args.database + ')':<44} {backlog_rate:>10.0f} {3 * backlog_rate:>10.0f}")
    print(f"{'cdr ingest while publishing (' + args.database + ')':<44} {live_rate:>10.0f} {3 * live_rate:>10.0f}")
    print(f"{'publishing alone (acked, ' + str(args.concurrency) + ' tasks)':<44} {args.calls / published:>10.0f}"
          f" {3 * args.calls / published:>10.0f}")  # fmt: skip
    print(f"{'peer: kamailio stateful proxy call rate':<44} {KAMAILIO_CALLS_PER_SECOND:>10} {'':>10}")
    print(f"backlog_calls_per_second={backlog_rate:.0f} live_calls_per_second={live_rate:.0f} "
          f"ratio_to_kamailio={backlog_rate / KAMAILIO_CALLS_PER_SECOND:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--time-limit", type=float, default=300.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
