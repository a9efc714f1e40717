"""Settings of the IMAP service (`PARLEY_IMAP_*`): listeners, limits, TLS material, timeouts."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.config import SuiteSettings


class ImapSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_IMAP_", extra="ignore", frozen=True)

    port: int = Field(2143, ge=0, le=65535, description="Port of IMAP with STARTTLS (production: 143; 0: off).")
    tls_port: int = Field(
        2993, ge=0, le=65535, description="Port of IMAP over implicit TLS (RFC 8314; production: 993; 0: off)."
    )
    ops_port: int = Field(9105, description="Port of /healthz, /readyz and /metrics.")
    hostname: str = Field("", description="Our name in the greeting; empty: the host name.")
    tls_cert: Path | None = Field(
        None, description="PEM certificate for STARTTLS and implicit TLS; empty: <data dir>/tls/cert.pem."
    )
    tls_key: Path | None = Field(None, description="PEM private key of the certificate; empty: <data dir>/tls/key.pem.")
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
    write_timeout: float = Field(
        60.0, gt=0, description="Seconds a response may wait for a client that does not read before it is dropped."
    )
    auth_requires_tls: bool = Field(
        True, description="LOGIN and AUTHENTICATE only under TLS (LOGINDISABLED before STARTTLS)."
    )

    def server_name(self) -> str:
        return self.hostname or socket.gethostname() or "localhost"

    def cert_paths(self, suite: SuiteSettings) -> tuple[Path, Path]:
        tls_dir = suite.resolved_data_dir() / "tls"
        cert = self.tls_cert.expanduser() if self.tls_cert else tls_dir / "cert.pem"
        key = self.tls_key.expanduser() if self.tls_key else tls_dir / "key.pem"
        return cert, key
