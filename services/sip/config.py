"""Settings of the SIP service (`PARLEY_SIP_*`): listeners, TLS, registrar, proxy, nonces."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.config import SuiteSettings


class SipSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_SIP_", extra="ignore", frozen=True)

    udp_port: int = Field(5060, ge=0, le=65535, description="Port of SIP over UDP (0: off).")
    tcp_port: int = Field(5060, ge=0, le=65535, description="Port of SIP over TCP (0: off).")
    tls_port: int = Field(5061, ge=0, le=65535, description="Port of SIP over TLS (0: off).")
    ws_port: int = Field(
        5066, ge=0, le=65535, description="Port of SIP over WebSocket (RFC 7118, plain ws://; 0: off)."
    )
    ops_port: int = Field(9107, description="Port of /healthz, /readyz and /metrics.")
    ipv6: bool = Field(True, description="Also listen on the IPv6 loopback/any address matching the bind host.")
    advertised_host: str = Field(
        "", description="Host name or address put in Via and Record-Route; empty: the bind host (or the host name)."
    )
    tls_cert: Path | None = Field(None, description="PEM certificate for SIP over TLS; empty: <data dir>/tls/cert.pem.")
    tls_key: Path | None = Field(None, description="PEM private key of the certificate; empty: <data dir>/tls/key.pem.")
    max_message_size: int = Field(65535, ge=1500, description="Largest SIP message accepted (513 above it).")
    min_expires: int = Field(60, ge=1, description="Shortest registration accepted (423 Interval Too Brief below).")
    max_expires: int = Field(3600, ge=60, description="Longest registration granted; longer requests are cut.")
    default_expires: int = Field(3600, ge=60, description="Registration time when the client asks for none.")
    max_contacts: int = Field(10, ge=1, description="Most bindings one address-of-record may hold.")
    nonce_lifetime: int = Field(300, ge=10, description="Seconds a digest nonce is valid; older ones get stale=true.")
    digest_algorithms: list[str] = Field(
        ["SHA-256", "MD5"], description="Digest algorithms offered in challenges, one challenge each (RFC 8760)."
    )
    invite_timeout: float = Field(
        180.0, gt=0, description="Timer C (RFC 3261 section 16.6): seconds a forked INVITE branch may ring."
    )
    static_routes: dict[str, str] = Field(
        default_factory=dict,
        description='Next hop per remote domain, e.g. {"pstn.example.net": "sip:10.0.0.5:5060"}; '
        'the key "*" is the default gateway for every other remote domain.',
    )
    require_auth_local_callers: bool = Field(
        False,
        description="Challenge (407) INVITE and MESSAGE whose From is one of our domains even when the target "
        "is local (requests to other domains are always challenged).",
    )
    client_rate: float = Field(
        200.0, ge=0, description="New requests per second one client address may send (0: no limit); more get 503."
    )
    client_burst: float = Field(400.0, ge=1, description="Requests one client address may send at once.")
    t1: float = Field(0.5, gt=0, description="RFC 3261 timer T1 (round-trip estimate), seconds.")
    max_connections_per_client: int = Field(
        50, ge=1, description="Simultaneous TCP/TLS connections from one client address; more are refused."
    )
    idle_timeout: float = Field(
        900.0, gt=0, description="Seconds a TCP/TLS connection may stay silent (keep-alives count) before it closes."
    )

    media_mode: Literal["anchor", "proxy"] = Field(
        "anchor",
        description="anchor: calls with an SDP offer between local users (and to a static route) go through the "
        "B2BUA with media in the relay, falling back to proxying when no media node answers; proxy: never.",
    )
    media_timeout: float = Field(2.0, gt=0, description="Seconds to wait for the media relay's reply.")
    session_expires: int = Field(
        1800, ge=1, description="Session interval of anchored calls (RFC 4028) when the caller asks for none."
    )
    min_se: int = Field(90, ge=1, description="Shortest session interval accepted (422 with Min-SE below it).")
    max_calls: int = Field(10000, ge=1, description="Most anchored calls one replica holds; more get 503.")
    subscribe_min_expires: int = Field(
        60, ge=1, description="Shortest SUBSCRIBE or PUBLISH accepted (423 Interval Too Brief below)."
    )
    subscribe_max_expires: int = Field(7200, ge=60, description="Longest subscription granted; longer ones are cut.")
    subscribe_default_expires: int = Field(3600, ge=60, description="Subscription time when the SUBSCRIBE asks none.")
    publish_max_expires: int = Field(
        3600, ge=60, description="Longest presence publication (PUBLISH) kept; also its default."
    )
    max_subscriptions: int = Field(
        100_000, ge=1, description="Subscriptions one replica holds at most; more SUBSCRIBEs get 503."
    )

    def host_name(self, suite: SuiteSettings) -> str:
        if self.advertised_host:
            return self.advertised_host
        if suite.bind_host not in ("0.0.0.0", "::", ""):
            return suite.bind_host
        return socket.gethostname() or "localhost"

    def cert_paths(self, suite: SuiteSettings) -> tuple[Path, Path]:
        tls_dir = suite.resolved_data_dir() / "tls"
        cert = self.tls_cert.expanduser() if self.tls_cert else tls_dir / "cert.pem"
        key = self.tls_key.expanduser() if self.tls_key else tls_dir / "key.pem"
        return cert, key
