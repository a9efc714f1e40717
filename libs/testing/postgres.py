"""A throwaway PostgreSQL server for tests, or a server the environment names.

Integration tests run every storage path against PostgreSQL as well as
SQLite. Without Docker on these machines, the server comes from Debian's
`postgresql` package: a fresh cluster in a temporary directory, listening on
127.0.0.1 on a free port with trust authentication, its unix socket inside
that directory, fsync off (a test cluster never needs to survive a power
cut). It is removed again by `close()`.

initdb refuses to run as root, and CI runs as root, so then the cluster
directory is handed to the `postgres` system user (created by the Debian
package) and initdb/pg_ctl run as that user.

When PARLEY_TEST_POSTGRES_URL is set, `start_postgres` uses that server
instead and starts nothing; `create_database` then works through it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import asyncpg
from sqlalchemy.engine import make_url

from libs.testing.ports import LOOPBACK, free_port

POSTGRES_URL_ENV = "PARLEY_TEST_POSTGRES_URL"
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
POSTGRES_USER = "postgres"
DEFAULT_DATABASE = "parley_test"
STARTUP_TIMEOUT = 60
COMMAND_TIMEOUT = 30.0
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found under "
    f"{DEBIAN_BINDIRS} or on PATH. Install the Debian package `postgresql` "
    "(`apt-get install -y postgresql`, as the project's CI does), or point "
    f"{POSTGRES_URL_ENV} at a running server, e.g. "
    "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
_REQUIRED_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

T = TypeVar("T")


class PostgresError(RuntimeError):
    """The test PostgreSQL server could not be set up or used."""


class PostgresNotInstalled(PostgresError):
    """No PostgreSQL server binaries on this machine."""


# --- finding the binaries -------------------------------------------------------


def _version_key(bindir: Path) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin, so 16 sorts above 9.6."""
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))


def _has_server_programs(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in _REQUIRED_PROGRAMS)


def find_postgres_bindir() -> Path:
    """The bin directory of the highest installed PostgreSQL, Debian's layout first."""
    debian = sorted(Path("/").glob(DEBIAN_BINDIRS.lstrip("/")), key=_version_key, reverse=True)
    for bindir in debian:
        if _has_server_programs(bindir):
            return bindir
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl and _has_server_programs(Path(pg_ctl).resolve().parent):
        return Path(pg_ctl).resolve().parent
    raise PostgresNotInstalled(INSTALL_HINT)


# --- URLs and administration over asyncpg ---------------------------------------


def check_database_name(name: str) -> str:
    """Accept only plain identifiers: they are quoted into SQL and put into URLs."""
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"not a plain database name (letters, digits, _; at most 63): {name!r}")
    return name


def database_url(server_url: str, name: str) -> str:
    """The SQLAlchemy asyncpg URL of database `name` on the server of `server_url`."""
    url = make_url(server_url).set(drivername="postgresql+asyncpg", database=check_database_name(name))
    return url.render_as_string(hide_password=False)


def _asyncpg_dsn(url: str) -> str:
    """asyncpg takes libpq-style DSNs, without SQLAlchemy's `+driver` suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run_blocking(make_coroutine: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    It gets its own event loop in a worker thread, so this works the same
    from a plain fixture and from inside a running test loop (which it
    blocks briefly, acceptable for set-up and tear-down).
    """

    async def run() -> T:
        return await make_coroutine()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-admin") as pool:
        return pool.submit(asyncio.run, run()).result()


async def _execute(admin_url: str, sql: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE require that)."""
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=COMMAND_TIMEOUT)
    try:
        await connection.execute(sql, timeout=COMMAND_TIMEOUT)
    finally:
        await connection.close(timeout=COMMAND_TIMEOUT)


# --- servers --------------------------------------------------------------------


class PostgresServer:
    """A PostgreSQL server reachable at `admin_url`, with a test database at `url`."""

    def __init__(self, admin_url: str, url: str) -> None:
        self.admin_url = admin_url
        self.url = url

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={make_url(self.url).render_as_string()!r})"

    @property
    def port(self) -> int:
        return make_url(self.admin_url).port or 5432

    def create_database(self, name: str) -> str:
        """Create an empty database `name` and return its asyncpg URL."""
        quoted = f'"{check_database_name(name)}"'
        _run_blocking(lambda: _execute(self.admin_url, f"CREATE DATABASE {quoted}"))
        return database_url(self.admin_url, name)

    def drop_database(self, name: str) -> None:
        """Drop `name`, disconnecting clients a test left open (PostgreSQL 13+)."""
        quoted = f'"{check_database_name(name)}"'
        _run_blocking(lambda: _execute(self.admin_url, f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))

    def close(self) -> None:
        """Release the server; nothing to do for one this process did not start."""

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ExternalPostgres(PostgresServer):
    """A server someone else runs (PARLEY_TEST_POSTGRES_URL); never stopped here."""

    def __init__(self, url: str) -> None:
        normalized = make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        super().__init__(admin_url=normalized, url=normalized)


class LocalPostgres(PostgresServer):
    """A cluster created in a temporary directory and removed by `close()`."""

    def __init__(
        self,
        *,
        bindir: Path | None = None,
        host: str = LOOPBACK,
        port: int | None = None,
        database: str = DEFAULT_DATABASE,
        startup_timeout: int = STARTUP_TIMEOUT,
    ) -> None:
        self.bindir = bindir or find_postgres_bindir()
        self.host = host
        self.database = check_database_name(database)
        self.startup_timeout = startup_timeout
        self._port = port if port is not None else free_port(host)
        self._workdir: Path | None = None
        self._running = False
        admin_url = f"postgresql+asyncpg://{POSTGRES_USER}@{host}:{self._port}/postgres"
        super().__init__(admin_url=admin_url, url=database_url(admin_url, database))

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise PostgresError(f"{self!r} has not been started")
        return self._workdir

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.workdir / "run"

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    def start(self) -> LocalPostgres:
        """Create the cluster, start it, and create the test database."""
        if self._running:
            raise PostgresError(f"{self!r} is already running")
        atexit.register(self.close)
        try:
            self._make_workdir()
            self._initdb()
            self._configure()
            # Marked running first: a start that times out may still leave a
            # postmaster behind, which stop() must then take down.
            self._running = True
            self._pg_ctl("start", "-w", "-t", str(self.startup_timeout), "-l", str(self.log_path))
            self.create_database(self.database)
        except BaseException:
            self.close()
            raise
        return self

    def stop(self) -> None:
        """Stop at once (no checkpoint: the cluster is thrown away anyway)."""
        if not self._running:
            return
        self._running = False
        try:
            self._pg_ctl("stop", "-m", "immediate", "-w", "-t", str(self.startup_timeout))
        except (PostgresError, subprocess.TimeoutExpired):
            self._kill_postmaster()

    def close(self) -> None:
        """Stop the server and remove its directory; safe to call twice."""
        atexit.unregister(self.close)
        try:
            self.stop()
        finally:
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    # --- steps of start() -------------------------------------------------------

    def _make_workdir(self) -> None:
        """A private directory that the server's user owns (see module docstring)."""
        self._workdir = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        self.socket_dir.mkdir()
        self.log_path.touch()
        if os.geteuid() == 0:
            owner = _postgres_account()
            for path in (self.workdir, self.socket_dir, self.log_path):
                os.chown(path, owner.pw_uid, owner.pw_gid)

    def _initdb(self) -> None:
        # Trust auth: loopback only, throwaway data. C locale: the machine may
        # have no other locales generated, and tests must not depend on them.
        self._run(
            self.bindir / "initdb",
            "-D", str(self.data_dir),
            "-U", POSTGRES_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )  # fmt: skip

    def _configure(self) -> None:
        """Append settings; the last occurrence in postgresql.conf wins."""
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self._port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            # Durability is pointless for a cluster deleted after the run,
            # and fsync is the slowest part of a test suite's writes.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# parley test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _pg_ctl(self, *args: str) -> None:
        self._run(self.bindir / "pg_ctl", "-D", str(self.data_dir), *args)

    def _run(self, program: Path, *args: str) -> None:
        """Run a server program as the server's user; fail with its output and log."""
        command = _as_postgres_user([str(program), *args])
        result = subprocess.run(
            command,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self.startup_timeout + 30,
            env={**os.environ, "LC_ALL": "C"},
        )
        if result.returncode != 0:
            raise PostgresError(
                f"{shlex.join(command)} exited with {result.returncode}\n"
                f"{result.stdout}{result.stderr}\n--- server log ---\n{self._log_tail()}"
            )

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, PostgresError):
            return "(no log)"

    def _kill_postmaster(self) -> None:
        """Last resort when pg_ctl cannot stop it: SIGKILL the pid it recorded."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def _postgres_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        raise PostgresNotInstalled(
            f"running as root, but there is no `{POSTGRES_USER}` user to run the server as. " + INSTALL_HINT
        ) from None


def _as_postgres_user(command: list[str]) -> list[str]:
    """Prefix `command` so it runs as `postgres` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return command
    _postgres_account()
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", POSTGRES_USER, "--", *command]
    su = shutil.which("su") or "su"
    return [su, POSTGRES_USER, "-s", "/bin/sh", "-c", shlex.join(command)]


def start_postgres(
    *,
    external_url: str | None = None,
    database: str = DEFAULT_DATABASE,
) -> PostgresServer:
    """The external server when a URL is given, else a freshly started local one."""
    if external_url:
        return ExternalPostgres(external_url)
    return LocalPostgres(database=database).start()


def external_url_from(environ: Mapping[str, str]) -> str | None:
    """PARLEY_TEST_POSTGRES_URL, if set and not empty."""
    return environ.get(POSTGRES_URL_ENV) or None
