"""The native relay under valgrind's memcheck: a workload that touches every entry point and
sends valid, malformed and foreign packets must add no memory error and leak nothing.

The interpreter itself reports some uninitialised-value errors under memcheck (a build without
valgrind support); the test runs the same interpreter once without the relay as the baseline and
requires the workload to report exactly the baseline's errors, none of them in the relay.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKLOAD = Path(__file__).resolve().parents[1] / "memcheck_workload.py"
ROOT = Path(__file__).resolve().parents[3]
SUPPRESSIONS = Path("/usr/lib/valgrind/python3.supp")
SUMMARY = re.compile(r"ERROR SUMMARY: (\d+) errors from (\d+) contexts")
DEFINITELY_LOST = re.compile(r"definitely lost: ([\d,]+) bytes")


def memcheck(*args: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.fail("valgrind is not installed (scripts/system-deps.sh test installs it)")
    command = [valgrind, "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite"]
    command += ["--errors-for-leak-kinds=definite", "--num-callers=40"]
    if SUPPRESSIONS.exists():
        command.append(f"--suppressions={SUPPRESSIONS}")
    env = {**os.environ, "PYTHONMALLOC": "malloc", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [*command, sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    return done.stderr, done


def summary(report: str) -> tuple[int, int]:
    found = SUMMARY.findall(report)
    assert found, report[-3000:]
    errors, contexts = found[-1]
    return int(errors), int(contexts)


def test_relay_workload_is_memcheck_clean() -> None:
    baseline, _ = memcheck("-c", "import socket, struct, time")
    report, done = memcheck(str(WORKLOAD))
    assert done.returncode == 0 and "workload ok" in done.stdout, report[-3000:]
    assert "_relay" not in report and "relay_thread" not in report, report
    for kind in ("Invalid read", "Invalid write", "Invalid free", "Mismatched free", "Syscall param"):
        assert kind not in report, report
    assert [int(x.replace(",", "")) for x in DEFINITELY_LOST.findall(report)] in ([], [0])
    assert summary(report) == summary(baseline), report[-3000:]
