"""The CAPABILITY list, which depends on the state, TLS and what is already active.

RFC 9051 section 6.1.1: the list may differ before and after login and after
STARTTLS. Before authentication we list what a client needs to log in
(STARTTLS, AUTH=, LOGINDISABLED, SASL-IR) and the extensions it may use at
once (LITERAL+, ID, ENABLE); mailbox extensions appear after login.
"""

from __future__ import annotations

from .config import SessionConfig
from .states import State

#: Extensions ENABLE can turn on (RFC 5161, RFC 7162, RFC 6855, RFC 9051 section 6.3.1).
ENABLEABLE = frozenset({"CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"})

_AUTHENTICATED = (
    "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE",
    "LIST-EXTENDED", "LIST-STATUS", "CONDSTORE", "QRESYNC", "ESEARCH", "SEARCHRES", "WITHIN", "SORT",
    "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT", "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE",
    "ACL", "RIGHTS=texk", "UTF8=ACCEPT", "MULTIAPPEND", "BINARY", "STATUS=SIZE",
)  # fmt: skip

THREAD_ALGORITHMS = frozenset({"REFERENCES", "ORDEREDSUBJECT"})


def capabilities(
    config: SessionConfig, *, state: State, tls_active: bool, compression_active: bool = False
) -> tuple[str, ...]:
    caps = ["IMAP4rev1", "IMAP4rev2", "LITERAL-" if config.literal_minus else "LITERAL+", "SASL-IR", "ID", "ENABLE"]
    caps.append("IDLE")
    if state is State.NOT_AUTHENTICATED:
        if config.tls_available and not tls_active:
            caps.append("STARTTLS")
        if login_allowed(config, tls_active=tls_active):
            caps.extend(f"AUTH={m}" for m in config.auth_mechanisms)
        else:
            caps.append("LOGINDISABLED")
    else:
        caps.extend(_AUTHENTICATED)
        caps.append(f"APPENDLIMIT={config.limits.append_limit}")
        if config.compression and not compression_active:
            caps.append("COMPRESS=DEFLATE")
    return tuple(c for c in caps if c not in config.disabled_capabilities)


def login_allowed(config: SessionConfig, *, tls_active: bool) -> bool:
    return tls_active or not config.auth_requires_tls
