"""The running part of `parley up`: NATS, then the services, until a signal.

Start order is NATS first (every service connects to it at start), then the
services; stop order is the reverse, so services can drain their bus work
while NATS is still there. The preparation that may fail without anything
running (data dir, TLS, migrations) happens before, in `libs.cli.suite`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from libs.cli import natsd, probe
from libs.cli.catalog import ServiceSpec
from libs.cli.supervisor import Child, Console, ConsoleLogger
from libs.config import SuiteSettings

SELF = "parley"  # the prefix of the supervisor's own lines


@dataclass
class Shutdown:
    """First SIGINT/SIGTERM: stop in order. Second: kill whatever still runs."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    force: asyncio.Event = field(default_factory=asyncio.Event)

    def on_signal(self, sig: signal.Signals) -> None:
        if self.stop.is_set():
            self.force.set()
            structlog.get_logger().warning("suite.stop.forced", signal=sig.name)
        else:
            self.stop.set()
            structlog.get_logger().info("suite.stop.requested", signal=sig.name)

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.on_signal, sig)


@dataclass(frozen=True)
class Plan:
    """Everything `run` needs, decided and validated before anything starts."""

    specs: list[ServiceSpec]
    data_dir: Path
    suite: SuiteSettings
    nats: natsd.EmbeddedNatsSettings
    nats_binary: Path
    health_timeout: float

    @property
    def listen(self) -> natsd.Listen:
        return natsd.listen_address(self.suite.nats_url)

    @property
    def host(self) -> str:
        return probe.connect_host(self.suite.bind_host)


def configure_console_logging(console: Console, *, level: str, fmt: str) -> None:
    """The supervisor's own events, rendered like the services' and prefixed `parley`."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=lambda *_args: ConsoleLogger(console, SELF),
        cache_logger_on_first_use=False,
    )


def service_env(plan: Plan) -> dict[str, str]:
    """The children's environment: ours, plus the absolute data dir and the NATS URL."""
    return {
        **os.environ,
        "PARLEY_DATA_DIR": str(plan.data_dir),
        "PARLEY_NATS_URL": plan.suite.nats_url,
        # Their stdout is a pipe to us: without this, Python would hold lines back.
        "PYTHONUNBUFFERED": "1",
    }


def build_children(plan: Plan, console: Console) -> tuple[Child, list[Child]]:
    run_dir = plan.data_dir / "run"
    config = natsd.write_config(listen=plan.listen, nats_dir=plan.data_dir / "nats", settings=plan.nats)
    nats = Child(
        "nats", natsd.command(plan.nats_binary, config), env=dict(os.environ), console=console, run_dir=run_dir
    )
    env = service_env(plan)
    services = [
        Child(spec.name, [sys.executable, "-m", spec.module], env=env, console=console, run_dir=run_dir)
        for spec in plan.specs
    ]
    return nats, services


def endpoint_lines(plan: Plan) -> list[str]:
    """What an operator needs after start: where everything listens, and a first step."""
    rows: list[tuple[str, str]] = [("NATS", plan.suite.nats_url)]
    for spec in plan.specs:
        rows += [(f"{spec.name} {label}", url) for label, url in spec.describe_endpoints(probe.url_host(plan.host))]
        rows.append((f"{spec.name} ops", f"{probe.ops_url(spec, plan.host)}/healthz"))
    width = max(len(label) for label, _ in rows)
    lines = ["Parley is up. Endpoints:"] + [f"  {label:<{width}}  {url}" for label, url in rows]
    if any(spec.name == "directory" for spec in plan.specs):
        lines += [
            f"Admin credentials: {plan.data_dir / 'secrets' / 'admin.json'} (written by directory on first start)",
            "Next: parley admin domain create example.test",
        ]
    lines.append("Stop with Ctrl-C (twice to kill at once).")
    return lines


async def run(plan: Plan) -> int:
    """Run the suite until a signal; 0 after an orderly stop, 1 if NATS cannot start."""
    console = Console([SELF, "nats", *(s.name for s in plan.specs)])
    configure_console_logging(console, level=plan.suite.log_level, fmt=plan.suite.log_format)
    log = structlog.get_logger()
    shutdown = Shutdown()
    shutdown.install()
    _write_own_pid(plan.data_dir / "run")
    nats, services = build_children(plan, console)
    try:
        if not await start_nats(nats, plan=plan, shutdown=shutdown):
            return 0 if shutdown.stop.is_set() else 1
        await supervise(nats, services, plan=plan, shutdown=shutdown, console=console)
    finally:
        (plan.data_dir / "run" / f"{SELF}.pid").unlink(missing_ok=True)
    log.info("suite.stopped")
    return 0


async def start_nats(nats: Child, *, plan: Plan, shutdown: Shutdown) -> bool:
    """Start nats-server and wait until it accepts connections; False if it did not."""
    await nats.start()
    assert nats.exited is not None
    waiting = natsd.wait_until_listening(plan.listen, exited=nats.exited, timeout=plan.nats.start_timeout)
    try:
        if await _unless_stopped(waiting, shutdown.stop):
            structlog.get_logger().info("suite.nats.ready", url=plan.suite.nats_url)
            return True
    except natsd.NatsStartError as error:
        structlog.get_logger().error("suite.nats.failed", error=str(error), last_output=list(nats.tail)[-5:])
        print(f"parley: {error} (its output is above, prefixed `nats`)", file=sys.stderr)
    await nats.terminate(shutdown.force)
    return False


async def supervise(nats: Child, services: list[Child], *, plan: Plan, shutdown: Shutdown, console: Console) -> None:
    nats_stop = asyncio.Event()
    nats_task = asyncio.create_task(nats.supervise(nats_stop, shutdown.force))
    service_tasks = [asyncio.create_task(child.supervise(shutdown.stop, shutdown.force)) for child in services]
    announce = asyncio.create_task(announce_when_healthy(plan, shutdown.stop, console))
    await shutdown.stop.wait()
    announce.cancel()
    structlog.get_logger().info("suite.stopping", services=[c.name for c in services])
    await asyncio.gather(*service_tasks)
    nats_stop.set()  # only now: the services drained their bus work while NATS was up
    await nats_task


async def announce_when_healthy(plan: Plan, stop: asyncio.Event, console: Console) -> None:
    unhealthy = await probe.wait_healthy(plan.specs, plan.host, timeout=plan.health_timeout, stop=stop)
    if stop.is_set():
        return
    if unhealthy:
        structlog.get_logger().warning("suite.health.timeout", unhealthy=unhealthy, waited=plan.health_timeout)
    for line in endpoint_lines(plan):
        console.line(SELF, line)


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` comes first; True if it finished (its errors propagate)."""
    task = asyncio.create_task(work)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not task.done():
        task.cancel()
        return False
    task.result()
    return True


def _write_own_pid(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / f"{SELF}.pid").write_text(f"{os.getpid()}\n", encoding="ascii")
