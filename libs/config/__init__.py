"""Typed configuration for the whole suite.

Every setting is an environment variable: `PARLEY_<OPTION>` for suite-wide
settings (one name for the same thing everywhere) and
`PARLEY_<SERVICE>_<OPTION>` for a service's own. Each service declares one
schema class here or in its own package; `main.py` loads it once at start-up
and passes it down, nothing reads `os.environ` deeper in the code.

`python -m libs.config.doc` writes the table in docs/configuration.md from
these classes, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SuiteSettings(BaseSettings):
    """Settings every service shares."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        Path("var"),
        description="Directory for embedded databases, blobs, NATS store, TLS material and secrets.",
    )
    nats_url: str = Field(
        "nats://127.0.0.1:4222",
        description="NATS server URL(s), comma-separated for a cluster.",
    )
    bind_host: str = Field(
        "127.0.0.1",
        description="Address the services listen on (use 0.0.0.0 or :: in containers).",
    )
    log_level: str = Field("info", description="Minimum log level: debug, info, warning, error.")
    log_format: str = Field("json", description="Log line format: json (one event per line) or console.")
    bus_timeout: float = Field(
        5.0, description="Seconds to wait for a reply on the bus before the owner counts as down."
    )
    node_name: str = Field("", description="Name of this node in logs and events (defaults to the host name).")

    def node(self) -> str:
        return self.node_name or socket.gethostname()

    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()


def sqlite_url(data_dir: Path, name: str) -> str:
    """The embedded default database of one owning service."""
    return f"sqlite+aiosqlite:///{(data_dir / 'db' / f'{name}.sqlite3').resolve()}"
