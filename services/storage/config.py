"""Settings of the storage service (`PARLEY_STORAGE_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.config import SuiteSettings, sqlite_url


class StorageSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_STORAGE_", extra="ignore", frozen=True)

    database_url: str = Field(
        "",
        description="SQLAlchemy URL (sqlite+aiosqlite:// or postgresql+asyncpg://); empty: SQLite under the data dir.",
    )
    ops_port: int = Field(9102, description="Port of /healthz, /readyz and /metrics.")
    migrate_on_start: bool = Field(True, description="Run the storage database migrations when the service starts.")
    quota_cache_seconds: float = Field(
        30.0, ge=0, description="How long an account's quota limits from the directory are reused."
    )
    max_message_bytes: int = Field(
        100 * 1024 * 1024, ge=1024, description="Largest message that deliver and append accept."
    )
    text_index_bytes: int = Field(
        1024 * 1024, ge=0, description="How much decoded text of one message goes into the full-text index."
    )
    gc_interval: float = Field(
        3600.0, ge=0, description="Seconds between blob garbage collections (0: never in this process)."
    )
    gc_grace: float = Field(
        3600.0, ge=0, description="A blob unreferenced for less than this many seconds is kept (in-flight deliveries)."
    )

    def database(self, suite: SuiteSettings) -> str:
        return self.database_url or sqlite_url(suite.resolved_data_dir(), "storage")
