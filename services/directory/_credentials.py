"""Turn a new password into every stored form the protocols need.

One password serves mail, chat and phone: argon2id for clear-text logins,
SCRAM-SHA-256 keys for IMAP/XMPP/SMTP SCRAM, and SIP digest HA1 for MD5 and
SHA-256 with realm = the domain, for both user-name conventions phones use
(`alice` and `alice@example.com`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from libs.auth import digest, passwords, scram

MAX_PASSWORD_LENGTH = 1024


def credential_columns(password: str, *, local: str, domain: str, scram_iterations: int) -> dict[str, Any]:
    keys = scram.derive_keys(password, iterations=scram_iterations)
    address = f"{local}@{domain}"
    return {
        "password_hash": passwords.hash_password(password),
        "scram_salt": keys.salt,
        "scram_iterations": keys.iterations,
        "scram_stored_key": keys.stored_key,
        "scram_server_key": keys.server_key,
        "ha1_md5": digest.ha1("MD5", local, domain, password),
        "ha1_sha256": digest.ha1("SHA-256", local, domain, password),
        "ha1_md5_address": digest.ha1("MD5", address, domain, password),
        "ha1_sha256_address": digest.ha1("SHA-256", address, domain, password),
    }


async def credential_columns_async(password: str, *, local: str, domain: str, scram_iterations: int) -> dict[str, Any]:
    """The same, off the event loop: argon2 and PBKDF2 cost tens of milliseconds."""
    return await asyncio.to_thread(
        credential_columns, password, local=local, domain=domain, scram_iterations=scram_iterations
    )
