"""Settings of outbound delivery (`PARLEY_SMTP_OUTBOUND_*`): routes, retries, timeouts, workers.

Kept apart from `SmtpSettings` because they describe the delivery workers and
the queue, not the listeners; `main.py` loads both and passes them down.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OutboundSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_SMTP_OUTBOUND_", extra="ignore", frozen=True)

    workers: int = Field(
        4, ge=0, le=256, description="Remote deliveries one smtp process runs at once (0: this process only queues)."
    )
    routes: dict[str, str] = Field(
        default_factory=dict,
        description='Static routes as JSON, domain to host:port, e.g. {"example.org": "mx.example.org:25", '
        '"*": "relay.internal:25"}; "*" is the default. Checked before the smarthost and MX records.',
    )
    smarthost: str = Field(
        "", description="host:port that takes all remote mail when no route matches; empty: look up MX records."
    )
    default_port: int = Field(25, ge=1, le=65535, description="Port of MX hosts, and of routes given without one.")
    retry_initial: float = Field(
        300.0, gt=0, description="Seconds before the first retry of a temporary failure; each retry doubles it."
    )
    retry_max: float = Field(3600.0, gt=0, description="Longest wait between two retries, in seconds.")
    give_up_after: float = Field(
        5 * 24 * 3600.0, gt=0, description="Age in seconds after which a message still undelivered is bounced."
    )
    connect_timeout: float = Field(30.0, gt=0, description="Seconds to open a connection to a remote server.")
    command_timeout: float = Field(
        300.0, gt=0, description="Seconds to wait for each reply of a remote server (RFC 5321 4.5.3.2: minutes)."
    )
    ack_wait: float = Field(
        120.0,
        gt=0,
        description="Seconds JetStream waits for a busy worker's sign of life before another gets the message.",
    )
    stream_replicas: int = Field(
        1, ge=1, le=5, description="Copies of the MAIL_OUTBOUND stream in a NATS cluster (3 on a three-node cluster)."
    )
    max_pending: int = Field(
        100_000, ge=1, description="Queued messages handed out and not yet finished, waiting retries included."
    )
    bounce_full_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=0,
        description="A bounce returns the whole message (RET=FULL) only up to this size; larger ones get headers.",
    )
