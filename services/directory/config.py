"""Settings of the directory service (`PARLEY_DIRECTORY_*`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.config import SuiteSettings, sqlite_url


class DirectorySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_DIRECTORY_", extra="ignore", frozen=True)

    database_url: str = Field(
        "",
        description="SQLAlchemy URL (sqlite+aiosqlite:// or postgresql+asyncpg://); empty: SQLite under the data dir.",
    )
    admin_port: int = Field(8010, description="Port of the admin REST API and web admin.")
    ops_port: int = Field(9101, description="Port of /healthz, /readyz and /metrics.")
    admin_user: str = Field("admin", description="Login of the server administrator created on first start.")
    admin_password: SecretStr | None = Field(
        None,
        description=(
            "Password of that first administrator; empty: generated and written to <data dir>/secrets/admin.json."
        ),
    )
    migrate_on_start: bool = Field(True, description="Run the directory's database migrations when the service starts.")
    auth_window: float = Field(300.0, description="Seconds over which failed logins are counted for throttling.")
    auth_max_failures_account: int = Field(
        10, description="Failed logins per account within the window before it is throttled."
    )
    auth_max_failures_client: int = Field(
        30, description="Failed logins per client address within the window before it is throttled."
    )
    auth_cache_seconds: float = Field(
        60.0,
        ge=0,
        description=(
            "Seconds a successful clear-text login is remembered (an HMAC of account, password and stored hash under "
            "a per-process key) so repeated logins skip argon2id; 0: every login verifies the hash."
        ),
    )
    scram_iterations: int = Field(
        4096, ge=4096, description="PBKDF2 iterations for new SCRAM-SHA-256 keys (RFC 7677: at least 4096)."
    )
    cache_seconds: float = Field(
        10.0,
        ge=0,
        description=(
            "How long a replica may answer resolve and auth from its read cache; changes invalidate it at once "
            "through directory events, this bounds staleness when an event is lost. 0: no cache."
        ),
    )
    cache_entries: int = Field(
        50_000, ge=0, description="Addresses (and, separately, credentials) a replica's read cache holds at most."
    )
    max_resolve_depth: int = Field(
        10,
        ge=1,
        le=50,
        description="How deep aliases, forwarders and groups may nest before resolution stops (loop guard).",
    )

    def database(self, suite: SuiteSettings) -> str:
        return self.database_url or sqlite_url(suite.resolved_data_dir(), "directory")
