"""A throwaway S3-compatible server for tests: moto in server mode on a free loopback port.

The blob store's S3 backend is tested against a real HTTP endpoint, signing
and all, without Docker or network: `moto[server]` (a test dependency)
answers the S3 API from memory in a child process. Each server starts
empty; `close()` stops it and everything it stored is gone. Credentials are
fixed dummies, since moto accepts any.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from libs.testing.ports import LOOPBACK, free_port
from libs.testing.processes import die_with_parent, log_tail, stop_process

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05


class S3ServerError(RuntimeError):
    """moto is not installed, or its server did not come up."""


def _answers_http(host: str, port: int) -> bool:
    """Whether something on host:port answers an HTTP request (any status will do)."""
    connection = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        connection.request("GET", "/moto-api/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class MotoS3Server:
    """One moto server process; use as a context manager or call start/close."""

    access_key = "testing"
    secret_key = "testing"
    region = "us-east-1"

    def __init__(
        self,
        *,
        host: str = LOOPBACK,
        port: int | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"MotoS3Server(endpoint_url={self.endpoint_url!r}, running={self.running})"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client_options(self) -> dict[str, str]:
        """Where and as whom to connect: keyword arguments of `S3BlobStore` or an S3 client."""
        return {
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
        }

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="parley-s3-"))
        return self._workdir / "moto.log"

    def start(self) -> MotoS3Server:
        """Start the server and return once it answers HTTP."""
        if self.running:
            raise S3ServerError(f"{self!r} is already running")
        if importlib.util.find_spec("moto") is None:
            raise S3ServerError("moto is not installed: install the test dependencies (moto[server])")
        # The server must not pick up a developer's real AWS configuration.
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise S3ServerError(f"moto server exited at start-up:\n{log_tail(self.log_path)}")
            if _answers_http(self.host, self.port):
                return
            time.sleep(_POLL_INTERVAL)
        raise S3ServerError(f"moto server not ready on {self.endpoint_url} after {self.startup_timeout}s")

    def stop(self) -> None:
        """SIGTERM, escalating to SIGKILL; what the server stored is lost."""
        stop_process(self._process, self.stop_timeout)
        self._process = None

    def close(self) -> None:
        """Stop the server and remove its log; safe to call twice."""
        try:
            self.stop()
        finally:
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    def __enter__(self) -> MotoS3Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
