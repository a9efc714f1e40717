"""What one listener's sessions offer: TLS, SASL mechanisms, plaintext passwords, limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from .limits import Limits

PLAINTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})  # mechanisms that reveal the password


@dataclass(frozen=True, slots=True)
class SessionConfig:
    hostname: str
    limits: Limits = field(default_factory=Limits)
    tls_available: bool = False  # STLS offered (RFC 2595) until TLS is active
    tls_active: bool = False  # implicit TLS (pop3s)
    sasl_mechanisms: tuple[str, ...] = ("SCRAM-SHA-256", "PLAIN")
    plaintext_auth_allowed: bool = False  # USER/PASS and PLAIN without TLS
    implementation: str = "Parley"
