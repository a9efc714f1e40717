"""Settings of sender authentication and anti-abuse (`PARLEY_SMTP_*`): DNS, SPF, DKIM, rate limits.

Kept apart from `config.SmtpSettings` so that the listener settings and these
checks can evolve separately; both read the same `PARLEY_SMTP_` prefix.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SpfFailAction(StrEnum):
    RECORD = "record"  # accept, write spf=fail into Authentication-Results
    REJECT = "reject"  # 550 5.7.23 at MAIL FROM (RFC 7372)


class SpfTempErrorAction(StrEnum):
    RECORD = "record"
    DEFER = "defer"  # 451 4.7.24 at MAIL FROM (RFC 7372)


class MailAuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_SMTP_", extra="ignore", frozen=True)

    dns_servers: str = Field(
        "",
        description="DNS resolvers for SPF and DKIM, comma-separated `host` or `host:port` "
        "(e.g. `127.0.0.1:5353`); empty: the system resolver (/etc/resolv.conf).",
    )
    dns_timeout: float = Field(3.0, gt=0, description="Seconds to wait for one DNS server's answer.")
    dns_lifetime: float = Field(
        6.0, gt=0, description="Seconds one DNS lookup may take in all (retries and servers); then temperror."
    )
    spf_enabled: bool = Field(True, description="Check SPF (RFC 7208) of MAIL FROM (or HELO) on the MX listener.")
    spf_fail_action: SpfFailAction = Field(
        SpfFailAction.RECORD, description="On SPF `fail`: `record` it only, or `reject` with 550 5.7.23."
    )
    spf_temperror_action: SpfTempErrorAction = Field(
        SpfTempErrorAction.RECORD, description="On SPF `temperror`: `record` it only, or `defer` with 451 4.7.24."
    )
    spf_total_timeout: float = Field(
        20.0, gt=0, description="Seconds one SPF evaluation may spend on DNS (RFC 7208 4.6.4: at least 20)."
    )
    dkim_verify_enabled: bool = Field(True, description="Verify DKIM signatures (RFC 6376) on the MX listener.")
    dkim_verify_max_bytes: int = Field(
        4 * 1024 * 1024,
        ge=0,
        description="Messages up to this size are held in memory and DKIM-verified; larger ones are "
        "streamed to storage unverified (`dkim=policy`).",
    )
    dkim_verify_memory_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Bytes all messages held for DKIM verification may take together in one process; "
        "past it, new content streams unverified (`dkim=policy`).",
    )
    dkim_max_signatures: int = Field(5, ge=1, description="DKIM signatures verified per message; later ones ignored.")
    dkim_key_cache_seconds: float = Field(
        60.0, ge=0, description="Seconds the signer keeps a domain's DKIM key from the directory."
    )
    connection_rate_per_minute: int = Field(
        120, ge=0, description="New connections per minute from one client address; more get 421 4.7.0 (0: off)."
    )
    message_rate_per_minute: int = Field(
        120, ge=0, description="Messages (MAIL FROM) per minute from one client address; more get 450 4.7.1 (0: off)."
    )
    account_message_rate_per_minute: int = Field(
        120, ge=0, description="Messages per minute of one authenticated account on submission (0: off)."
    )
    rate_limit_max_clients: int = Field(
        100_000, ge=100, description="Client addresses and accounts whose rate is tracked at once (oldest forgotten)."
    )

    @field_validator("dns_servers")
    @classmethod
    def _valid_dns_servers(cls, value: str) -> str:
        parse_dns_servers(value)
        return value

    def dns_server_list(self) -> list[tuple[str, int]]:
        return parse_dns_servers(self.dns_servers)


def parse_dns_servers(text: str) -> list[tuple[str, int]]:
    """`"127.0.0.1:5353, ::1, [::1]:53"` -> [(host, port), ...]; port 53 when not given."""
    servers: list[tuple[str, int]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif item.count(":") == 1:
            host, _, port_text = item.partition(":")
            port = int(port_text)
        else:
            host, port = item, 53
        if not 0 < port < 65536:
            raise ValueError(f"bad DNS server port in {item!r}")
        servers.append((host, port))
    return servers
