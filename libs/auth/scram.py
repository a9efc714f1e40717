"""SCRAM-SHA-256 (RFC 5802, RFC 7677) key derivation and proof checking.

The server stores only StoredKey and ServerKey (plus salt and iteration
count); a stolen directory does not give away passwords or let anyone log in
without a dictionary attack per account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from dataclasses import dataclass

DEFAULT_ITERATIONS = 4096  # RFC 7677 section 4: at least 4096


@dataclass(frozen=True)
class ScramKeys:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def derive_keys(password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> ScramKeys:
    salt = salt if salt is not None else os.urandom(16)
    salted = _salted_password(password, salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return ScramKeys(
        salt=salt,
        iterations=iterations,
        stored_key=hashlib.sha256(client_key).digest(),
        server_key=hmac.digest(salted, b"Server Key", "sha256"),
    )


def verify_proof(*, stored_key: bytes, server_key: bytes, auth_message: str, client_proof_b64: str) -> str | None:
    """Return the base64 ServerSignature when the proof is right, else None (RFC 5802 section 3)."""
    try:
        proof = base64.b64decode(client_proof_b64, validate=True)
    except ValueError:
        return None
    if len(proof) != len(stored_key):
        return None
    message = auth_message.encode()
    client_signature = hmac.digest(stored_key, message, "sha256")
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    if not hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key):
        return None
    return base64.b64encode(hmac.digest(server_key, message, "sha256")).decode()


def client_proof(password: str, *, salt: bytes, iterations: int, auth_message: str) -> tuple[str, str]:
    """The client side: (ClientProof, expected ServerSignature), both base64. Used by tests and tools."""
    salted = _salted_password(password, salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    signature = hmac.digest(stored_key, auth_message.encode(), "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    server_signature = hmac.digest(server_key, auth_message.encode(), "sha256")
    return base64.b64encode(proof).decode(), base64.b64encode(server_signature).decode()


def _salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    # RFC 5802 wants SASLprep (RFC 4013); NFKC normalisation is its practical core.
    normalised = unicodedata.normalize("NFKC", password)
    return hashlib.pbkdf2_hmac("sha256", normalised.encode(), salt, iterations)
