"""The service extensions listed in the EHLO/LHLO reply (RFC 5321 section 4.1.1.1)."""

from __future__ import annotations

from .config import SessionConfig


def auth_offered(config: SessionConfig, *, tls_active: bool) -> bool:
    """AUTH is listed (and usable) once TLS is on, unless the listener allows it in plaintext.

    RFC 4954 section 6 (538): servers SHOULD NOT advertise mechanisms that need
    encryption before there is any.
    """
    return bool(config.auth_mechanisms) and (tls_active or not config.auth_requires_tls)


def starttls_offered(config: SessionConfig, *, tls_active: bool) -> bool:
    return config.tls_available and not tls_active


def ehlo_keywords(config: SessionConfig, *, tls_active: bool) -> list[str]:
    keywords = [
        "PIPELINING",  # RFC 2920
        f"SIZE {config.limits.max_message_size}",  # RFC 1870
        "8BITMIME",  # RFC 6152
        "SMTPUTF8",  # RFC 6531
        "ENHANCEDSTATUSCODES",  # RFC 2034
        "DSN",  # RFC 3461
        "CHUNKING",  # RFC 3030
    ]
    if starttls_offered(config, tls_active=tls_active):
        keywords.append("STARTTLS")  # RFC 3207
    if auth_offered(config, tls_active=tls_active):
        keywords.append("AUTH " + " ".join(config.auth_mechanisms))  # RFC 4954
    keywords.append("HELP")
    return keywords
