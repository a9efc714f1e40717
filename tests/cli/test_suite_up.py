"""`parley up` as an operator runs it: a real process tree on free ports.

Each test starts its own suite (NATS and the directory service) in a
temporary data dir, waits until `parley status` says healthy, and checks
what an operator relies on: the files it creates, restarts after a crash,
and an orderly stop that leaves no process behind. The fixture kills
whatever is left even when a test fails, so a broken run cannot leak
processes into the next one.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.testing.suite import (
    HEALTHY_WITHIN,
    STOPPED_WITHIN,
    RunningSuite,
    pid_alive,
    start_suite,
    stop_suite,
    wait_for,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def running_suite(tmp_path: Path) -> Iterator[RunningSuite]:
    suite = start_suite(tmp_path)
    try:
        yield suite
    finally:
        stop_suite(suite)
        print(suite.log()[-10_000:])  # pytest shows it only if the test failed


def test_up_serves_and_stops_cleanly_on_sigterm(running_suite: RunningSuite) -> None:
    data = running_suite.data_dir
    assert (data / "tls" / "cert.pem").is_file()
    assert stat.S_IMODE((data / "tls" / "key.pem").stat().st_mode) == 0o600
    assert "sync_interval: always" in (data / "nats" / "nats.conf").read_text()
    assert (data / "secrets" / "admin.json").is_file()
    log = running_suite.log()
    assert "Parley is up" in log
    assert "directory | " in log and "nats      | " in log

    children = running_suite.child_pids()
    assert set(children) == {"nats", "directory"}
    running_suite.process.send_signal(signal.SIGTERM)
    assert running_suite.process.wait(timeout=STOPPED_WITHIN) == 0
    wait_for(lambda: not any(pid_alive(pid) for pid in children.values()), timeout=2, what="every child is gone")
    assert not list((data / "run").glob("*.pid"))


def test_a_killed_service_is_restarted(running_suite: RunningSuite) -> None:
    first = running_suite.pid_of("directory")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not pid_alive(first), timeout=5, what="the killed child is reaped")

    def replaced() -> bool:
        current = running_suite.pid_of("directory")
        return current is not None and current != first and running_suite.healthy()

    wait_for(replaced, timeout=HEALTHY_WITHIN, what="a new directory process is healthy")
    assert '"signal": "SIGKILL"' in running_suite.log()

    running_suite.process.send_signal(signal.SIGTERM)
    assert running_suite.process.wait(timeout=STOPPED_WITHIN) == 0
    assert not any(pid_alive(pid) for pid in running_suite.seen_pids)
