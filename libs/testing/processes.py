"""Child processes of tests: stop them in order, crash them on purpose, read their logs,
and make sure none outlives a test process that is killed outright."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float) -> int | None:
    """SIGTERM, then SIGKILL after `timeout`; the exit code (None if there was no process)."""
    if process is None:
        return None
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode


def kill_process(process: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    """SIGKILL: a crash, with no shutdown work."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _load_prctl() -> Callable[..., int] | None:
    """prctl(2) from libc, loaded once in the parent (dlopen after fork is unsafe)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def die_with_parent() -> None:
    """A `preexec_fn`: the child gets SIGKILL when the test process dies.

    Finalizers cover every orderly exit; this covers a test process that is
    killed outright, which would otherwise leave servers listening behind it.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
