"""SMTP acceptance rate of Parley and of Postfix, the same load back to back.

    .venv/bin/python bench/smtp.py                      # 3 runs of 5000 x 2 KB over 20 sessions, both servers
    .venv/bin/python bench/smtp.py --no-peer --runs 1   # Parley alone
    .venv/bin/python bench/smtp.py --profile DIR        # also a py-spy recording of the smtp process

The load is Postfix's own `smtp-source` (persistent sessions: EHLO once, then
MAIL/RCPT/DATA per message) against each server's MX on loopback. For each
run it reports messages accepted per second (all `250` after DATA received:
for Parley that means stored, durable) and end to end (until the store holds
them all: Parley's INBOX through the storage contract, Postfix's Maildir),
then the Parley/Postfix ratio of the medians.

Postfix (the peer) is installed with apt-get when missing and configured by
this script to listen on 127.0.0.1 only, deliver every message for
`bench.test` into one Maildir and relay nothing. Parley runs as `parley up`
starts it (directory, storage, smtp; SQLite and local blobs under a temporary
data dir; nats-server with `sync_interval: always`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from libs.bus import Bus  # noqa: E402
from libs.contracts import storage as contract  # noqa: E402
from libs.testing.ports import free_ports  # noqa: E402
from libs.testing.suite import RunningSuite, start_suite, stop_suite  # noqa: E402

DOMAIN = "bench.test"
RECIPIENT = f"sink@{DOMAIN}"
SENDER = f"bench@{DOMAIN}"
PEER_MAILDIR = Path("/var/tmp/parley-bench-postfix/bench.test/sink")
VMAIL_ID = 5000


# --- the peer -----------------------------------------------------------------------------------


def install_postfix() -> None:
    if shutil.which("smtp-source") and Path("/usr/sbin/postfix").exists():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    preseed = "postfix postfix/main_mailer_type select Local only\npostfix postfix/mailname string bench.test\n"
    subprocess.run(["debconf-set-selections"], input=preseed, text=True, check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "postfix"], check=True, env=env, stdout=subprocess.DEVNULL)


def configure_postfix(port: int) -> None:
    """Loopback only, everything for bench.test into one Maildir, no relay, no chroot."""
    if subprocess.run(["getent", "group", "vmail"], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", "-g", str(VMAIL_ID), "vmail"], check=True)
    if subprocess.run(["getent", "passwd", "vmail"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-u", str(VMAIL_ID), "-g", str(VMAIL_ID), "-s", "/usr/sbin/nologin", "vmail"])
    base = PEER_MAILDIR.parent.parent
    base.mkdir(parents=True, exist_ok=True)
    shutil.chown(base, VMAIL_ID, VMAIL_ID)
    shutil.chown(base.parent, VMAIL_ID, VMAIL_ID)
    settings = {
        "myhostname": "mail.bench.test",
        "mydestination": "localhost",
        "inet_interfaces": "loopback-only",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "relayhost": "",
        "default_transport": "error:no relay in the benchmark",
        "relay_transport": "error:no relay in the benchmark",
        "smtp_dns_support_level": "disabled",
        "virtual_mailbox_domains": DOMAIN,
        "virtual_mailbox_base": str(base.parent),
        "virtual_mailbox_maps": f"static:{base.name}/{DOMAIN}/sink/",
        "virtual_uid_maps": f"static:{VMAIL_ID}",
        "virtual_gid_maps": f"static:{VMAIL_ID}",
        "virtual_minimum_uid": str(VMAIL_ID),
        "biff": "no",
        "compatibility_level": "3.6",
        "maillog_file": "/var/log/postfix.log",
    }
    subprocess.run(["postconf", "-e", *(f"{k} = {v}" for k, v in settings.items())], check=True)
    subprocess.run(["postconf", "-M#", "smtp/inet"], capture_output=True)
    subprocess.run(["postconf", "-M", f"127.0.0.1:{port}/inet=127.0.0.1:{port} inet n - n - - smtpd"], check=True)
    subprocess.run(["postconf", "-F", "*/*/chroot = n"], check=True)
    subprocess.run(["newaliases"], check=True)
    running = subprocess.run(["postfix", "status"], capture_output=True).returncode == 0
    subprocess.run(["postfix", "reload" if running else "start"], check=True, capture_output=True)
    wait_listening(port)


def stop_postfix() -> None:
    subprocess.run(["postfix", "stop"], capture_output=True)


def wait_listening(port: int, seconds: float = 30) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def maildir_count() -> int:
    return sum(len(os.listdir(PEER_MAILDIR / sub)) for sub in ("new", "cur") if (PEER_MAILDIR / sub).is_dir())


def clear_maildir() -> None:
    for sub in ("new", "cur", "tmp"):
        folder = PEER_MAILDIR / sub
        if folder.is_dir():
            for name in os.listdir(folder):
                (folder / name).unlink(missing_ok=True)


# --- Parley ----------------------------------------------------------------------------------------


def start_parley(work: Path) -> tuple[RunningSuite, int]:
    mx, submission, submissions, lmtp = free_ports(4)
    env = {
        "PARLEY_SMTP_MX_PORT": str(mx),
        "PARLEY_SMTP_SUBMISSION_PORT": str(submission),
        "PARLEY_SMTP_SUBMISSIONS_PORT": str(submissions),
        "PARLEY_SMTP_LMTP_PORT": str(lmtp),
        "PARLEY_LOG_LEVEL": "warning",
        # Like the peer's configuration: no SPF policy and no client rate limits (one client sends
        # thousands of messages a minute). DKIM verification stays on; the load is unsigned.
        "PARLEY_SMTP_SPF_ENABLED": "false",
        "PARLEY_SMTP_CONNECTION_RATE_PER_MINUTE": "0",
        "PARLEY_SMTP_MESSAGE_RATE_PER_MINUTE": "0",
    }
    suite = start_suite(work, services="directory,storage,smtp", env=env)
    for step in (("domain", "create", DOMAIN), ("account", "create", RECIPIENT, "--password", "bench")):
        result = suite.parley("admin", *step)
        if result.returncode != 0:
            stop_suite(suite)
            raise SystemExit(f"provisioning failed: {result.stderr}")
    return suite, mx


class InboxCounter:
    """Messages in the sink's INBOX, asked of storage over the bus (UIDNEXT - 1: nothing is expunged)."""

    def __init__(self, nats_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.bus = self.loop.run_until_complete(Bus.open(nats_url, name="bench-smtp"))

    def __call__(self) -> int:
        request = contract.UidsRequest(account=RECIPIENT, mailbox="INBOX")
        reply = self.loop.run_until_complete(self.bus.request(contract.RPC_UIDS, request, contract.UidsReply))
        return reply.uidnext - 1

    def close(self) -> None:
        self.loop.run_until_complete(self.bus.close())
        self.loop.close()


# --- the load ---------------------------------------------------------------------------------------


@dataclass
class Run:
    server: str
    accepted_rate: float
    e2e_rate: float
    delivered: int
    load: str


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_load(
    server: str, port: int, count: Callable[[], int], args: argparse.Namespace
) -> Run:  # one smtp-source run, then wait until the store holds every message
    base = count()
    started = time.monotonic()
    subprocess.run(
        ["smtp-source", "-d", "-s", str(args.sessions), "-m", str(args.messages), "-l", str(args.size),
         "-f", SENDER, "-t", RECIPIENT, "-S", "bench", f"127.0.0.1:{port}"],
        check=True, timeout=args.send_timeout,
    )  # fmt: skip
    accepted = time.monotonic()
    deadline = accepted + args.deliver_timeout
    delivered = count() - base
    while delivered < args.messages and time.monotonic() < deadline:
        time.sleep(0.05)
        delivered = count() - base
    finished = time.monotonic()
    return Run(
        server=server,
        accepted_rate=args.messages / (accepted - started),
        e2e_rate=delivered / (finished - started),
        delivered=delivered,
        load=loadavg(),
    )


class Profiler:
    """py-spy over each service process for one run: `<service>.txt`, collapsed stacks with thread
    names, for a flame graph or grep."""

    def __init__(self, directory: Path | None, pids: dict[str, int]) -> None:
        self.directory, self.pids, self.processes = directory, pids, []  # type: list[subprocess.Popen[bytes]]

    def __enter__(self) -> Profiler:
        if self.directory is None:
            return self
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self.processes.append(subprocess.Popen(
                [spy, "record", "-p", str(pid), "-o", str(self.directory / f"{name}.txt"), "--format", "raw",
                 "-r", "100", "--nonblocking", "--threads"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGINT)
        for process in self.processes:
            process.wait(30)


def median(runs: list[Run], attribute: str) -> float:
    return statistics.median(getattr(r, attribute) for r in runs)


def report(runs: list[Run], args: argparse.Namespace) -> None:
    print(f"# {platform.node()} {os.cpu_count()} cpus, python {platform.python_version()}, load at end {loadavg()}")
    print(f"# smtp-source -d -s {args.sessions} -m {args.messages} -l {args.size}, {args.runs} runs per server")
    print(f"{'server':<8} {'run':>3} {'accepted msg/s':>15} {'e2e msg/s':>10} {'delivered':>9}  load")
    servers = sorted({r.server for r in runs}, key=["postfix", "parley"].index)
    for server in servers:
        for i, r in enumerate([r for r in runs if r.server == server], 1):
            print(f"{server:<8} {i:>3} {r.accepted_rate:>15.1f} {r.e2e_rate:>10.1f} {r.delivered:>9}  {r.load}")
    for server in servers:
        mine = [r for r in runs if r.server == server]
        print(f"{server}_accept_rate_median={median(mine, 'accepted_rate'):.1f}")
        print(f"{server}_e2e_rate_median={median(mine, 'e2e_rate'):.1f}")
    if len(servers) == 2:
        ours = [r for r in runs if r.server == "parley"]
        peer = [r for r in runs if r.server == "postfix"]
        print(f"ratio_accept_parley_over_postfix={median(ours, 'accepted_rate') / median(peer, 'accepted_rate'):.2f}")
        print(f"ratio_e2e_parley_over_postfix={median(ours, 'e2e_rate') / median(peer, 'e2e_rate'):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--messages", type=int, default=5000, help="messages per run")
    parser.add_argument("--size", type=int, default=2048, help="body bytes per message")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true", help="measure Parley only")
    parser.add_argument("--peer-port", type=int, default=2526)
    parser.add_argument("--send-timeout", type=float, default=300)
    parser.add_argument("--deliver-timeout", type=float, default=300)
    parser.add_argument("--profile", type=Path, help="py-spy recordings of the services (last run)")
    args = parser.parse_args()

    if not args.no_peer:
        install_postfix()
        configure_postfix(args.peer_port)
    elif not shutil.which("smtp-source"):
        raise SystemExit("smtp-source is part of the Debian package postfix; run once without --no-peer")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="parley-bench-smtp-") as work:
        suite, mx_port = start_parley(Path(work))
        counter = InboxCounter(suite.env["PARLEY_NATS_URL"])
        try:
            for n in range(args.runs):
                if not args.no_peer:
                    clear_maildir()
                    runs.append(run_load("postfix", args.peer_port, maildir_count, args))
                    time.sleep(2)
                last = n == args.runs - 1
                services = {name: pid for name, pid in suite.child_pids().items() if name != "nats"}
                with Profiler(args.profile if last else None, services):
                    runs.append(run_load("parley", mx_port, counter, args))
                time.sleep(2)
        finally:
            counter.close()
            stop_suite(suite)
            if not args.no_peer:
                stop_postfix()
    report(runs, args)


if __name__ == "__main__":
    main()
