"""An external billing consumer of Parley's call events: a durable pull consumer on the stream `CDR`.

Every `sip.call.ended` event is a complete record of one call leg (call-id,
leg, caller and callee accounts and URIs, start, answer and end times, final
SIP status, who hung up, media statistics, node). This script appends each
one as a JSON line to a file (or stdout), fsyncs, and only then acknowledges
it, so a crash never loses an event: JetStream hands unacknowledged events
out again after `--ack-wait` seconds. Because of that an event can arrive
twice; deduplicate on (call_id, leg), which is unique per call leg.

The consumer is durable: it lives in the NATS server under its name and
resumes where it stopped. Give every billing system its own name; two
processes with the same name share the work.

    pip install nats-py
    python cdr_consumer.py --nats-url nats://127.0.0.1:4222 --durable billing --output calls.jsonl

Needs only nats-py (https://github.com/nats-io/nats.py); see docs/cdr.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from typing import TextIO

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

STREAM = "CDR"


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--durable", default="billing", help="name of this consumer in the NATS server")
    parser.add_argument("--subject", default="sip.call.ended", help="sip.call.> for attempts and answers too")
    parser.add_argument("--output", default="-", help="file to append JSON lines to; - for stdout")
    parser.add_argument("--ack-wait", type=float, default=30.0, help="seconds before an unacked event comes again")
    parser.add_argument("--idle-exit", type=float, default=0.0, help="exit after this many idle seconds (0: never)")
    return parser.parse_args(argv)


def write(out: TextIO, subject: str, data: bytes) -> None:
    record = json.loads(data)
    record["subject"] = subject
    out.write(json.dumps(record, sort_keys=True) + "\n")
    out.flush()
    if out is not sys.stdout:
        os.fsync(out.fileno())  # durable before the ack


async def consume(args: argparse.Namespace) -> int:
    nc = await nats.connect(args.nats_url, max_reconnect_attempts=-1)
    js = nc.jetstream()
    config = ConsumerConfig(
        durable_name=args.durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=args.ack_wait,
        max_ack_pending=1000,
        filter_subject=args.subject,
    )
    await js.add_consumer(STREAM, config)
    subscription = await js.pull_subscribe_bind(durable=args.durable, stream=STREAM)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    out = sys.stdout if args.output == "-" else open(args.output, "a", encoding="utf-8")  # noqa: SIM115
    count, last = 0, time.monotonic()
    try:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(100, timeout=1.0)
            except (NatsTimeout, TimeoutError):
                if args.idle_exit and time.monotonic() - last > args.idle_exit:
                    break
                continue
            for msg in messages:
                write(out, msg.subject, msg.data)
                await msg.ack_sync()  # confirmed by the server: it will not come again
                count += 1
            last = time.monotonic()
    finally:
        if out is not sys.stdout:
            out.close()
        await nc.close()
    print(f"consumed {count} events", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(consume(arguments())))
