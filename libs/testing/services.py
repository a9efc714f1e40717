"""Run one Parley service as a real process, the way `parley up` and containers run it.

`ServiceProcess` starts `python -m services.<name>` with PARLEY_* settings,
waits until its ops `/readyz` answers 200, and stops it with SIGTERM (or
SIGKILL for crash tests). Output goes to a log file in the data dir, shown
when start-up fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from libs.testing.processes import die_with_parent, kill_process, log_tail, stop_process

READY_TIMEOUT = 30.0


class ServiceProcess:
    def __init__(self, name: str, *, env: dict[str, str], ops_port: int, data_dir: Path) -> None:
        self.name = name
        self.env = env
        self.ops_port = ops_port
        self.data_dir = data_dir
        self.log_path = data_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> ServiceProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.ops_port}/readyz"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, timeout: float = 15.0) -> int | None:
        return stop_process(self.process, timeout)

    def kill(self) -> None:
        kill_process(self.process)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
