"""Settings of the SMTP service (`PARLEY_SMTP_*`): listeners, limits, TLS material, timeouts."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from libs.config.frontend import FrontEndSettings


class SmtpSettings(FrontEndSettings):
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
    max_message_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest message accepted, advertised as SIZE (RFC 1870)."
    )
    max_recipients: int = Field(100, ge=100, description="Recipients per transaction (RFC 5321 4.5.3.1.10: >= 100).")
    max_connections_per_client: int = Field(
        20, ge=1, description="Simultaneous connections from one client address; more get 421 4.7.0."
    )
    command_timeout: float = Field(
        300.0, gt=0, description="Seconds a client may take per command line (RFC 5321 4.5.3.2: 5 minutes)."
    )
    data_block_timeout: float = Field(
        180.0, gt=0, description="Seconds between two reads of message content (RFC 5321 4.5.3.2.5: 3 minutes)."
    )
    data_end_timeout: float = Field(
        600.0, gt=0, description="Seconds to store the message before giving up (RFC 5321 4.5.3.2.6: 10 minutes)."
    )
