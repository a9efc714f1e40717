"""The CAPA list (RFC 2449 section 5), which depends on the state and on TLS."""

from __future__ import annotations

from .config import PLAINTEXT_MECHANISMS, SessionConfig
from .states import State


def usable_mechanisms(config: SessionConfig, *, tls: bool) -> tuple[str, ...]:
    if tls or config.plaintext_auth_allowed:
        return config.sasl_mechanisms
    return tuple(m for m in config.sasl_mechanisms if m not in PLAINTEXT_MECHANISMS)


def plaintext_allowed(config: SessionConfig, *, tls: bool) -> bool:
    return tls or config.plaintext_auth_allowed


def capabilities(config: SessionConfig, *, state: State, tls: bool) -> tuple[str, ...]:
    lines = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"]
    if state is State.AUTHORIZATION:
        if plaintext_allowed(config, tls=tls):
            lines.append("USER")
        mechanisms = usable_mechanisms(config, tls=tls)
        if mechanisms:
            lines.append("SASL " + " ".join(mechanisms))
        if config.tls_available and not tls:
            lines.append("STLS")
    lines.append(f"IMPLEMENTATION {config.implementation}")
    return tuple(lines)
