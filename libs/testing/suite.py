"""`parley up` as an operator runs it, for tests: a real process tree on free ports.

`start_suite()` runs `python -m libs.cli.main up` in a temporary data dir with
every port free and waits until `parley status` says healthy; `stop_suite()`
stops it and kills whatever is left even after a failed test, so a broken
run cannot leak processes into the next one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from libs.testing.ports import free_ports

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
    services: str = "directory"
    seen_pids: set[int] = field(default_factory=set)

    def parley(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "libs.cli.main", *args], env=self.env, capture_output=True, text=True, timeout=30
        )

    def healthy(self) -> bool:
        return self.parley("status", "--services", self.services).returncode == 0

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
        pids = {name: self.pid_of(name) for name in ("nats", *self.services.split(","))}
        return {name: pid for name, pid in pids.items() if pid is not None}

    def log(self) -> str:
        return self.output.read_text(errors="replace")


def start_suite(tmp_path: Path, services: str = "directory", env: dict[str, str] | None = None) -> RunningSuite:
    """Start `parley up --services ...` and return once it is healthy (stopped again on failure).

    `env` adds or overrides settings, such as the listener ports of a service."""
    names = services.split(",")
    nats_port, admin_port, *ops_ports = free_ports(2 + len(names))
    data_dir = tmp_path / "data"
    suite_env = {
        **os.environ,
        "PARLEY_DATA_DIR": str(data_dir),
        "PARLEY_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "PARLEY_DIRECTORY_ADMIN_PORT": str(admin_port),
        **{f"PARLEY_{name.upper()}_OPS_PORT": str(port) for name, port in zip(names, ops_ports, strict=True)},
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    output = tmp_path / "up.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "libs.cli.main", "up", "--services", services],
            env=suite_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    suite = RunningSuite(process=process, data_dir=data_dir, env=suite_env, output=output, services=services)
    try:
        wait_for(suite.healthy_while_running, timeout=HEALTHY_WITHIN, what="the suite is healthy")
    except BaseException:
        stop_suite(suite)
        raise
    suite.child_pids()
    return suite


def stop_suite(suite: RunningSuite) -> None:
    """SIGTERM the supervisor, then SIGKILL anything of the tree that is still alive."""
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
