"""What a session needs to know about the listener it serves: name, TLS, SASL, limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .limits import Limits

# RFC 4422 section 3.1: SASL mechanism names are 1 to 20 upper-case letters, digits, "-" or "_".
_SASL_MECHANISM = re.compile(r"[A-Z0-9_-]{1,20}")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    #: Our name in the greeting.
    hostname: str
    limits: Limits = field(default_factory=Limits)
    #: A certificate is configured, so STARTTLS (RFC 9051 section 6.2.1) may be offered.
    tls_available: bool = False
    #: The connection is TLS from the first byte (port 993, RFC 8314).
    tls_active: bool = False
    #: SASL mechanisms for AUTHENTICATE, e.g. ("PLAIN", "SCRAM-SHA-256").
    auth_mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256")
    #: LOGIN and AUTHENTICATE only under TLS; LOGINDISABLED is advertised before
    #: (RFC 9051 section 6.2.3, RFC 8314 section 3).
    auth_requires_tls: bool = True
    #: Advertise LITERAL- instead of LITERAL+ (RFC 7888 section 4).
    literal_minus: bool = False
    #: Offer COMPRESS=DEFLATE (RFC 4978).
    compression: bool = True
    #: Fields of our ``* ID`` response (RFC 2971); empty answers ``* ID NIL``.
    server_id: tuple[tuple[str, str], ...] = (("name", "Parley"),)
    #: Capabilities not to advertise (e.g. "THREAD=ORDEREDSUBJECT" until the service has it).
    disabled_capabilities: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.hostname or any(ch in self.hostname for ch in " \r\n\0[]"):
            raise ValueError(f"invalid hostname {self.hostname!r}")
        for mechanism in self.auth_mechanisms:
            if not _SASL_MECHANISM.fullmatch(mechanism):
                raise ValueError(f"invalid SASL mechanism name {mechanism!r}")
