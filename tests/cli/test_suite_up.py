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
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from libs.testing.ports import free_ports

pytestmark = pytest.mark.timeout(180)

HEALTHY_WITHIN = 60.0
STOPPED_WITHIN = 15.0


def pid_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(0.2)


@dataclass
class RunningSuite:
    process: subprocess.Popen[bytes]
    data_dir: Path
    env: dict[str, str]
    output: Path
    seen_pids: set[int] = field(default_factory=set)

    def parley(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "libs.cli.main", *args], env=self.env, capture_output=True, text=True, timeout=30
        )

    def healthy(self) -> bool:
        return self.parley("status", "--services", "directory").returncode == 0

    def healthy_while_running(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"parley up exited early with code {self.process.returncode}")
        return self.healthy()

    def pid_of(self, name: str) -> int | None:
        try:
            pid = int((self.data_dir / "run" / f"{name}.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
        self.seen_pids.add(pid)
        return pid

    def child_pids(self) -> dict[str, int]:
        pids = {name: self.pid_of(name) for name in ("nats", "directory")}
        return {name: pid for name, pid in pids.items() if pid is not None}

    def log(self) -> str:
        return self.output.read_text(errors="replace")


@pytest.fixture
def running_suite(tmp_path: Path) -> Iterator[RunningSuite]:
    nats_port, admin_port, ops_port = free_ports(3)
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PARLEY_DATA_DIR": str(data_dir),
        "PARLEY_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "PARLEY_DIRECTORY_ADMIN_PORT": str(admin_port),
        "PARLEY_DIRECTORY_OPS_PORT": str(ops_port),
        "PYTHONUNBUFFERED": "1",
    }
    output = tmp_path / "up.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "libs.cli.main", "up", "--services", "directory"],
            env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    suite = RunningSuite(process=process, data_dir=data_dir, env=env, output=output)
    try:
        wait_for(suite.healthy_while_running, timeout=HEALTHY_WITHIN, what="the suite is healthy")
        suite.child_pids()
        yield suite
    finally:
        _kill_everything(suite)
        print(suite.log()[-10_000:])  # pytest shows it only if the test failed


def _kill_everything(suite: RunningSuite) -> None:
    suite.child_pids()
    if suite.process.poll() is None:
        suite.process.send_signal(signal.SIGTERM)
        try:
            suite.process.wait(timeout=STOPPED_WITHIN)
        except subprocess.TimeoutExpired:
            suite.process.kill()
            suite.process.wait(timeout=5)
    for pid in suite.seen_pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


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
