"""Child supervision: output prefixing, restart backoff, orderly and forced stops."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from pathlib import Path

import pytest

from libs.cli.supervisor import (
    Backoff,
    Child,
    Console,
    LineSplitter,
    exit_description,
    prefix_line,
)

pytestmark = pytest.mark.timeout(60)


def test_prefix_pads_names_so_the_bars_line_up() -> None:
    assert prefix_line("nats", "ready", 9) == "nats      | ready"
    assert prefix_line("directory", "{}", 9) == "directory | {}"


def test_console_aligns_every_child_to_the_longest_name() -> None:
    out = io.StringIO()
    console = Console(["parley", "nats", "directory"], out)
    console.line("nats", "a")
    console.line("directory", "b")
    assert out.getvalue() == "nats      | a\ndirectory | b\n"


def test_splitter_keeps_partial_lines_until_they_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\r\ntw") == ["one"]
    assert splitter.feed(b"o\nthree") == ["two"]
    assert splitter.flush() == ["three"]
    assert splitter.flush() == []


def test_splitter_cuts_overlong_lines_and_survives_bad_utf8() -> None:
    splitter = LineSplitter(max_line=4)
    assert splitter.feed(b"abcdefghij") == ["abcd", "efgh"]
    assert splitter.feed(b"\n\xff\n") == ["ij", "\ufffd"]


def test_backoff_doubles_from_one_second_up_to_thirty() -> None:
    backoff = Backoff()
    assert [backoff.next_delay(uptime=0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_backoff_starts_over_after_a_minute_of_uptime() -> None:
    backoff = Backoff()
    for _ in range(4):
        backoff.next_delay(uptime=1)
    assert backoff.next_delay(uptime=60) == 1
    assert backoff.next_delay(uptime=2) == 2


def test_exit_description_names_the_signal() -> None:
    assert exit_description(-9) == {"exit_code": -9, "signal": "SIGKILL"}
    assert exit_description(3) == {"exit_code": 3}


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _child(name: str, code: str, tmp_path: Path, out: io.StringIO, **kwargs: object) -> Child:
    console = Console([name], out)
    return Child(
        name,
        _python(code),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        console=console,
        run_dir=tmp_path / "run",
        **kwargs,
    )  # type: ignore[arg-type]


async def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_child_output_is_prefixed_and_a_crashed_child_restarts(tmp_path: Path) -> None:
    out = io.StringIO()
    code = "import sys; print('hello'); print('oops', file=sys.stderr); sys.exit(3)"
    child = _child("svc", code, tmp_path, out, backoff=Backoff(initial=0.05))
    stop, force = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(child.supervise(stop, force))
    await _until(lambda: child.backoff.failures >= 2)  # exited, restarted, exited again
    stop.set()
    await asyncio.wait_for(task, 10)
    assert out.getvalue().count("svc | hello") >= 2
    assert "svc | oops" in out.getvalue()


async def test_stop_terminates_the_child_and_removes_its_pid_file(tmp_path: Path) -> None:
    out = io.StringIO()
    child = _child("svc", "import time; print('up'); time.sleep(60)", tmp_path, out)
    stop, force = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(child.supervise(stop, force))
    await _until(lambda: "up" in out.getvalue())
    assert int(child.pid_file.read_text()) == child.process.pid  # type: ignore[union-attr]
    stop.set()
    await asyncio.wait_for(task, 10)
    assert child.exited is not None and child.exited.result() == -signal.SIGTERM
    assert not child.pid_file.exists()


async def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    out = io.StringIO()
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up'); time.sleep(60)"
    child = _child("stubborn", code, tmp_path, out, stop_timeout=0.5)
    stop, force = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(child.supervise(stop, force))
    await _until(lambda: "up" in out.getvalue())
    stop.set()
    await asyncio.wait_for(task, 10)
    assert child.exited is not None and child.exited.result() == -signal.SIGKILL


async def test_force_kills_without_waiting_for_the_grace_period(tmp_path: Path) -> None:
    out = io.StringIO()
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up'); time.sleep(60)"
    child = _child("stubborn", code, tmp_path, out, stop_timeout=30)
    stop, force = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(child.supervise(stop, force))
    await _until(lambda: "up" in out.getvalue())
    stop.set()
    await asyncio.sleep(0.2)
    force.set()
    await asyncio.wait_for(task, 5)
    assert child.exited is not None and child.exited.result() == -signal.SIGKILL


async def test_stop_during_backoff_does_not_start_the_child_again(tmp_path: Path) -> None:
    out = io.StringIO()
    child = _child("svc", "print('once')", tmp_path, out, backoff=Backoff(initial=30))
    stop, force = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(child.supervise(stop, force))
    await _until(lambda: child.backoff.failures == 1)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert out.getvalue().count("once") == 1


async def test_a_program_that_cannot_start_is_retried_not_fatal(tmp_path: Path) -> None:
    child = Child(
        "ghost",
        [str(tmp_path / "missing")],
        env=dict(os.environ),
        console=Console(["ghost"], io.StringIO()),
        run_dir=tmp_path / "run",
        backoff=Backoff(initial=0.05),
    )
    stop, force = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(child.supervise(stop, force))
    await _until(lambda: child.backoff.failures >= 2)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert child.process is None
