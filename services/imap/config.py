"""Settings of the IMAP service (`PARLEY_IMAP_*`): listeners, limits, TLS material, timeouts."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from libs.config.frontend import FrontEndSettings


class ImapSettings(FrontEndSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_IMAP_", extra="ignore", frozen=True)

    port: int = Field(2143, ge=0, le=65535, description="Port of IMAP with STARTTLS (production: 143; 0: off).")
    tls_port: int = Field(
        2993, ge=0, le=65535, description="Port of IMAP over implicit TLS (RFC 8314; production: 993; 0: off)."
    )
    ops_port: int = Field(9105, description="Port of /healthz, /readyz and /metrics.")
    append_limit: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest message APPEND accepts, advertised as APPENDLIMIT (RFC 7889)."
    )
    max_line: int = Field(64 * 1024, ge=8192, description="Octets of command text per command (literals excluded).")
    max_connections_per_client: int = Field(
        20, ge=1, description="Simultaneous connections from one client address; more get * BYE."
    )
    max_connections_per_account: int = Field(
        50, ge=1, description="Simultaneous logged-in sessions of one account per process; more get NO [LIMIT]."
    )
    autologout: float = Field(
        1800.0,
        gt=0,
        description="Seconds an authenticated client may stay silent (RFC 9051 section 5.4: at least 30 minutes); "
        "IDLE is refreshed by the same timer.",
    )
    preauth_timeout: float = Field(60.0, gt=0, description="Seconds a client may stay silent before it logs in.")
    auth_requires_tls: bool = Field(
        True, description="LOGIN and AUTHENTICATE only under TLS (LOGINDISABLED before STARTTLS)."
    )
