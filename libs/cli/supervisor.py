"""Child process supervision for `parley up`.

Each service (and nats-server) runs as its own process, so a crash in one
never takes the others down, and an operator sees the same process layout
as in a container deployment. The supervisor:

- prefixes every line a child writes with its name (`directory | ...`), so
  one terminal shows the whole suite and `grep` finds one service;
- restarts a child that exits on its own, with exponential backoff (a child
  that crashes at start must not spin the CPU; one that ran for a while and
  then crashed is restarted quickly again);
- stops children in an order the caller chooses (services before NATS, so
  they can drain), SIGTERM first and SIGKILL after a grace period or on a
  second Ctrl-C;
- writes `<data>/run/<name>.pid` while a child runs, for operators' tools.

Children get their own process group: Ctrl-C in the terminal then reaches
only the supervisor, which stops everything in order, instead of every
process at once. On Linux they also get SIGTERM if the supervisor dies
without cleaning up (PR_SET_PDEATHSIG), so no orphan keeps a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog

MAX_LINE = 64 * 1024  # longer output is cut into several lines rather than buffered without bound
READ_CHUNK = 64 * 1024
PUMP_DRAIN_TIMEOUT = 2.0  # a grandchild may keep the pipe open after the child died


def prefix_line(name: str, text: str, width: int) -> str:
    """`directory | text`, the name padded so that the bars line up."""
    return f"{name:<{width}} | {text}"


class Console:
    """Writes prefixed lines to one stream, a whole line per write.

    All writers run on one event loop thread, so lines never interleave.
    """

    def __init__(self, names: Iterable[str], stream: IO[str] | None = None) -> None:
        self.width = max((len(n) for n in names), default=0)
        self.stream = stream if stream is not None else sys.stdout

    def line(self, name: str, text: str) -> None:
        try:
            self.stream.write(prefix_line(name, text, self.width) + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            # Nobody reads our output any more (`parley up | head`): keep supervising.
            pass


class ConsoleLogger:
    """structlog logger writing rendered events as lines of `name` on a Console."""

    def __init__(self, console: Console, name: str) -> None:
        self.console, self.name = console, name

    def msg(self, message: str) -> None:
        self.console.line(self.name, message)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


class LineSplitter:
    """Turns a byte stream into text lines; a line longer than `max_line` is split."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self.buffer = b""

    def feed(self, data: bytes) -> list[str]:
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\n")
        while len(self.buffer) > self.max_line:
            complete.append(self.buffer[: self.max_line])
            self.buffer = self.buffer[self.max_line :]
        return [_decode(raw) for raw in complete]

    def flush(self) -> list[str]:
        rest, self.buffer = self.buffer, b""
        return [_decode(rest)] if rest else []


def _decode(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", errors="replace")


async def pump_lines(stream: asyncio.StreamReader, emit: Callable[[str], None]) -> None:
    """Copy `stream` to `emit` line by line until EOF."""
    splitter = LineSplitter()
    while chunk := await stream.read(READ_CHUNK):
        for text in splitter.feed(chunk):
            emit(text)
    for text in splitter.flush():
        emit(text)


@dataclass
class Backoff:
    """Delay before restarting a child: 1 s doubling to 30 s, reset after 60 s of uptime."""

    initial: float = 1.0
    maximum: float = 30.0
    reset_after: float = 60.0
    failures: int = 0

    def next_delay(self, uptime: float) -> float:
        if uptime >= self.reset_after:
            self.failures = 0  # it ran fine for a while: this is a fresh crash, not a crash loop
        delay = min(self.maximum, self.initial * 2.0**self.failures)
        self.failures += 1
        return delay


def exit_description(code: int) -> dict[str, Any]:
    """Exit code as log fields; a negative code is the signal that killed it."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return {"exit_code": code, "signal": signal.Signals(-code).name}
    return {"exit_code": code}


@dataclass
class Child:
    """One supervised process: started, restarted with backoff, stopped on request."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    console: Console
    run_dir: Path
    backoff: Backoff = field(default_factory=Backoff)
    stop_timeout: float = 10.0
    process: asyncio.subprocess.Process | None = None
    exited: asyncio.Task[int] | None = None
    started_at: float = 0.0
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            env=dict(self.env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            process_group=0,
            preexec_fn=_die_with_parent(),
        )
        self.started_at = asyncio.get_running_loop().time()
        self.exited = asyncio.create_task(self._reap(self.process), name=f"reap-{self.name}")
        self._write_pid_file(self.process.pid)
        _log().info("suite.child.started", child=self.name, pid=self.process.pid)

    async def supervise(self, stop: asyncio.Event, force: asyncio.Event) -> None:
        """Keep the child running until `stop` is set, then terminate it."""
        while not stop.is_set():
            if self.exited is None and not await self._try_start():
                await self._pause(stop, self.backoff.next_delay(uptime=0.0))
                continue
            assert self.exited is not None
            if not await _first_of(self.exited, stop):
                break
            await self._pause(stop, self._record_exit())
        await self.terminate(force)  # a no-op when nothing runs

    async def _try_start(self) -> bool:
        try:
            await self.start()
        except OSError as error:  # e.g. the program vanished: retry like a crash, do not give up
            _log().error("suite.child.start_failed", child=self.name, error=str(error))
            return False
        return True

    def _record_exit(self) -> float:
        """Log why the child ended; the delay before starting it again."""
        assert self.exited is not None
        uptime = asyncio.get_running_loop().time() - self.started_at
        delay = self.backoff.next_delay(uptime)
        _log().warning(
            "suite.child.exited",
            child=self.name,
            uptime=round(uptime, 1),
            restart_in=delay,
            **exit_description(self.exited.result()),
        )
        self.process, self.exited = None, None
        return delay

    @staticmethod
    async def _pause(stop: asyncio.Event, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)

    async def terminate(self, force: asyncio.Event) -> None:
        """SIGTERM, then SIGKILL after `stop_timeout` seconds or as soon as `force` is set."""
        if self.exited is None or self.process is None:
            return
        if not force.is_set():
            self._signal(signal.SIGTERM)
            if await _first_of(self.exited, force, timeout=self.stop_timeout):
                return
        reason = "forced" if force.is_set() else f"still running after {self.stop_timeout:g} s"
        _log().warning("suite.child.killed", child=self.name, reason=reason)
        self._signal(signal.SIGKILL)
        await self.exited

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    async def _reap(self, process: asyncio.subprocess.Process) -> int:
        assert process.stdout is not None and process.stderr is not None
        pumps = [asyncio.create_task(pump_lines(pipe, self._emit)) for pipe in (process.stdout, process.stderr)]
        code = await process.wait()
        _done, pending = await asyncio.wait(pumps, timeout=PUMP_DRAIN_TIMEOUT)
        for task in pending:
            task.cancel()
        self._remove_pid_file(process.pid)
        return code

    def _emit(self, text: str) -> None:
        self.tail.append(text)
        self.console.line(self.name, text)

    def _write_pid_file(self, pid: int) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{pid}\n", encoding="ascii")

    def _remove_pid_file(self, pid: int) -> None:
        # Only our own pid: a restarted child may already have written its own.
        with contextlib.suppress(OSError, ValueError):
            if int(self.pid_file.read_text(encoding="ascii")) == pid:
                self.pid_file.unlink()


async def _first_of(exited: asyncio.Task[int], event: asyncio.Event, *, timeout: float | None = None) -> bool:
    """Wait for the child's exit or `event`; True if the child exited."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({exited, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return exited.done()


def _log() -> Any:
    return structlog.get_logger()


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook that makes the kernel SIGTERM the child if we die (Linux only).

    libc is resolved here, in the parent: the hook runs between fork and exec,
    where loading libraries or importing could deadlock.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent, sigterm = os.getpid(), int(signal.SIGTERM)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the hook ran
            os.kill(os.getpid(), sigterm)

    return hook
