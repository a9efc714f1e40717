"""Settings of the SMTP service (`PARLEY_SMTP_*`): listeners, limits, TLS material, timeouts."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.config import SuiteSettings


class SmtpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_SMTP_", extra="ignore", frozen=True)

    mx_port: int = Field(2525, ge=0, le=65535, description="Port of the MX listener (mail from other servers; 0: off).")
    submission_port: int = Field(
        2587, ge=0, le=65535, description="Port of message submission with STARTTLS and AUTH (RFC 6409; 0: off)."
    )
    submissions_port: int = Field(
        2465, ge=0, le=65535, description="Port of message submission over implicit TLS (RFC 8314; 0: off)."
    )
    lmtp_port: int = Field(2424, ge=0, le=65535, description="Port of the LMTP listener for local delivery (0: off).")
    ops_port: int = Field(9104, description="Port of /healthz, /readyz and /metrics.")
    hostname: str = Field("", description="Our name in the greeting, EHLO and Received headers; empty: the host name.")
    max_message_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest message accepted, advertised as SIZE (RFC 1870)."
    )
    max_recipients: int = Field(100, ge=100, description="Recipients per transaction (RFC 5321 4.5.3.1.10: >= 100).")
    max_connections_per_client: int = Field(
        20, ge=1, description="Simultaneous connections from one client address; more get 421 4.7.0."
    )
    tls_cert: Path | None = Field(
        None, description="PEM certificate for STARTTLS and implicit TLS; empty: <data dir>/tls/cert.pem."
    )
    tls_key: Path | None = Field(None, description="PEM private key of the certificate; empty: <data dir>/tls/key.pem.")
    command_timeout: float = Field(
        300.0, gt=0, description="Seconds a client may take per command line (RFC 5321 4.5.3.2: 5 minutes)."
    )
    data_block_timeout: float = Field(
        180.0, gt=0, description="Seconds between two reads of message content (RFC 5321 4.5.3.2.5: 3 minutes)."
    )
    data_end_timeout: float = Field(
        600.0, gt=0, description="Seconds to store the message before giving up (RFC 5321 4.5.3.2.6: 10 minutes)."
    )
    write_timeout: float = Field(
        60.0, gt=0, description="Seconds a reply may wait for a client that does not read before it is dropped."
    )

    def server_name(self) -> str:
        return self.hostname or socket.gethostname() or "localhost"

    def cert_paths(self, suite: SuiteSettings) -> tuple[Path, Path]:
        tls_dir = suite.resolved_data_dir() / "tls"
        cert = self.tls_cert.expanduser() if self.tls_cert else tls_dir / "cert.pem"
        key = self.tls_key.expanduser() if self.tls_key else tls_dir / "key.pem"
        return cert, key
