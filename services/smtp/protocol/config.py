"""What a session needs to know about the listener it serves: name, mode, TLS, AUTH, limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .limits import BareNewlinePolicy, Limits

# RFC 4422 section 3.1: SASL mechanism names are 1 to 20 upper-case letters, digits, "-" or "_".
_SASL_MECHANISM = re.compile(r"[A-Z0-9_-]{1,20}")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One listener's protocol settings; the transport builds it once and shares it."""

    #: Our name in the greeting and the HELO/EHLO reply.
    hostname: str
    #: Speak LMTP (RFC 2033) instead of ESMTP: LHLO, one reply per recipient after DATA.
    lmtp: bool = False
    limits: Limits = field(default_factory=Limits)
    #: A certificate is configured, so STARTTLS (RFC 3207) may be offered.
    tls_available: bool = False
    #: The connection is TLS from the first byte (implicit TLS, RFC 8314).
    tls_active: bool = False
    #: SASL mechanisms offered by AUTH (RFC 4954), e.g. ("PLAIN", "LOGIN", "SCRAM-SHA-256").
    auth_mechanisms: tuple[str, ...] = ()
    #: Offer and accept AUTH only under TLS (RFC 4954 section 4, last note).
    auth_requires_tls: bool = True
    #: MAIL needs a successful AUTH first (message submission, RFC 4954 section 6: 530 5.7.0).
    auth_required: bool = False
    bare_newline: BareNewlinePolicy = BareNewlinePolicy.REJECT

    def __post_init__(self) -> None:
        if not self.hostname or any(ch in self.hostname for ch in " \r\n\0"):
            raise ValueError(f"invalid hostname {self.hostname!r}")
        for mechanism in self.auth_mechanisms:
            if not _SASL_MECHANISM.fullmatch(mechanism):
                raise ValueError(f"invalid SASL mechanism name {mechanism!r}")
