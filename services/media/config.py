"""Settings of the media service (`PARLEY_MEDIA_*`): the RTP port range, addresses, timeouts, threads."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MediaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_MEDIA_", extra="ignore", frozen=True)

    port_min: int = Field(20000, ge=1024, le=65534, description="Lowest UDP port of the RTP/RTCP range (even).")
    port_max: int = Field(29999, ge=1025, le=65535, description="Highest UDP port of the RTP/RTCP range.")
    bind_address: str = Field(
        "", description="Address the relay's UDP sockets bind to; empty: the suite's PARLEY_BIND_HOST."
    )
    advertised_address: str = Field(
        "",
        description="Address written into rewritten SDP (c=), the one phones can reach; empty: the bind address "
        "(or 127.0.0.1 when binding to a wildcard).",
    )
    inactivity_timeout: float = Field(
        60.0, gt=0, description="Seconds without a packet on any stream of a session before it is reaped."
    )
    relatch_after: float = Field(
        2.0,
        ge=0.1,
        description="Seconds a latched endpoint must have been silent before another source may take its place "
        "(the rule against RTP hijacking, see docs/media.md).",
    )
    threads: int = Field(1, ge=1, le=64, description="Native relay threads; sessions are spread over them.")
    ops_port: int = Field(9108, description="Port of /healthz, /readyz and /metrics.")

    @model_validator(mode="after")
    def _range_holds_a_pair(self) -> MediaSettings:
        if self.port_max - self.port_min < 1:
            raise ValueError("PARLEY_MEDIA_PORT_MAX must be above PARLEY_MEDIA_PORT_MIN")
        return self

    def bind_host(self, suite_bind_host: str) -> str:
        return self.bind_address or suite_bind_host

    def sdp_address(self, suite_bind_host: str) -> str:
        if self.advertised_address:
            return self.advertised_address
        host = self.bind_host(suite_bind_host)
        return "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
