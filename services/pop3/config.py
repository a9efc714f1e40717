"""Settings of the POP3 service (`PARLEY_POP3_*`): listeners, TLS, authentication, timeouts, locks."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from libs.config.frontend import FrontEndSettings


class Pop3Settings(FrontEndSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_POP3_", extra="ignore", frozen=True)

    pop3_port: int = Field(2110, ge=0, le=65535, description="Port of POP3 with STLS (production: 110; 0: off).")
    pop3s_port: int = Field(
        2995, ge=0, le=65535, description="Port of POP3 over implicit TLS (production: 995, RFC 8314; 0: off)."
    )
    ops_port: int = Field(9106, description="Port of /healthz, /readyz and /metrics.")
    allow_plaintext_auth: bool = Field(
        False, description="Allow USER/PASS and AUTH PLAIN without TLS (SCRAM-SHA-256 is always allowed)."
    )
    preauth_timeout: float = Field(60.0, gt=0, description="Seconds a client may idle before it has logged in.")
    login_timeout: float = Field(
        300.0, gt=0, description="Seconds from connecting to logging in, however busy the client keeps the line."
    )
    idle_timeout: float = Field(
        600.0, gt=0, description="Autologout: seconds a logged-in client may idle (RFC 1939 section 3: >= 10 minutes)."
    )
    lock_ttl: float = Field(
        60.0,
        ge=2,
        description="Seconds a maildrop lock outlives a pop3 process that died holding it (JetStream KV TTL); "
        "holders refresh it every third of this. Read when the bucket is first created.",
    )
    max_errors: int = Field(10, ge=1, description="Client mistakes in one session before it is closed.")
    max_auth_failures: int = Field(3, ge=1, description="Failed logins in one session before it is closed.")
    max_connections_per_client: int = Field(
        20, ge=1, description="Simultaneous connections from one client address per process; more are refused."
    )
