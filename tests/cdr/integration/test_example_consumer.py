"""docs/examples/cdr_consumer.py, the example billing consumer, against a real nats-server:
it gets every ended call once, and its durable consumer resumes where it stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nats

from libs.contracts import sip as contract
from libs.testing.natsd import NatsServer
from tests.cdr.events import call_events

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "cdr_consumer.py"


async def publish(url: str, events: list[contract.CallEvent]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=contract.CDR_STREAM, subjects=[contract.CDR_SUBJECTS])
        for event in events:
            await js.publish(event.subject(), event.model_dump_json().encode(), stream=contract.CDR_STREAM)
    finally:
        await nc.close()


def run_example(url: str, output: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(EXAMPLE), "--nats-url", url, "--durable", "billing-test", "--output", str(output),
               "--idle-exit", "1.5"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def events_of(calls: range) -> list[contract.CallEvent]:
    return [event for i in calls for event in call_events(f"example-{i}", talk=i or None, status=200 if i else 487)
            if event is not None]  # fmt: skip


async def test_example_consumer_writes_each_ended_call_once(
    nats_server_factory: Callable[..., NatsServer], tmp_path: Path
) -> None:
    server = nats_server_factory()
    output = tmp_path / "calls.jsonl"
    await publish(server.url, events_of(range(3)))
    first = run_example(server.url, output)
    assert first.returncode == 0, first.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["call_id"] for r in records] == ["example-0", "example-1", "example-2"]
    assert all(r["subject"] == contract.CALL_ENDED for r in records)
    assert records[0]["status"] == 487 and records[0]["answered_at"] is None
    assert records[2]["status"] == 200 and records[2]["leg"] == "a"

    await publish(server.url, events_of(range(3, 5)))
    second = run_example(server.url, output)  # the same durable name: only what is new
    assert second.returncode == 0, second.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["call_id"] for r in records] == [f"example-{i}" for i in range(5)]
    assert "consumed 2 events" in second.stderr
