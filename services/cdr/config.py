"""Settings of the cdr service (`PARLEY_CDR_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.config import SuiteSettings, sqlite_url


class CdrSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_CDR_", extra="ignore", frozen=True)

    database_url: str = Field(
        "",
        description="SQLAlchemy URL (sqlite+aiosqlite:// or postgresql+asyncpg://); empty: SQLite under the data dir.",
    )
    api_port: int = Field(8020, description="Port of the CDR REST API (query and export).")
    ops_port: int = Field(9103, description="Port of /healthz, /readyz and /metrics.")
    migrate_on_start: bool = Field(True, description="Run the cdr database migrations when the service starts.")
    consumer: str = Field(
        "cdr-writer", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Name of the durable JetStream consumer on CDR."
    )
    batch_size: int = Field(100, ge=1, le=1000, description="Call events taken from the stream per transaction.")
    max_ack_pending: int = Field(
        1000, ge=1, description="Events handed out but not yet acknowledged, at most (bounds memory and redelivery)."
    )
    ack_wait: float = Field(
        30.0, gt=0, description="Seconds before JetStream hands an unacknowledged event out again (after a crash)."
    )
    file_enabled: bool = Field(True, description="Write the daily CDR text files (cdr-YYYY-MM-DD.log).")
    file_dir: Path | None = Field(None, description="Directory of the daily CDR files; empty: <data dir>/cdr.")
    open_call_timeout: float = Field(
        86400.0,
        gt=0,
        description="Seconds after its start when a call whose end never arrived is closed as failed (not billed).",
    )
    sweep_interval: float = Field(60.0, gt=0, description="Seconds between looks for such vanished calls.")
    auth_cache_seconds: float = Field(
        60.0, ge=0, description="How long a successful administrator login is remembered (the directory checks it)."
    )

    def database(self, suite: SuiteSettings) -> str:
        return self.database_url or sqlite_url(suite.resolved_data_dir(), "cdr")

    def files(self, suite: SuiteSettings) -> Path | None:
        if not self.file_enabled:
            return None
        return (self.file_dir or suite.resolved_data_dir() / "cdr").expanduser().resolve()
