"""The SASL PLAIN message (RFC 4616), shared by the front ends that accept it (smtp, pop3, imap)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlainCredentials:
    authorization_id: str
    username: str
    password: str

    @property
    def acts_for_another(self) -> bool:
        """An authorization identity other than the user: acting for someone else, not supported."""
        return bool(self.authorization_id) and self.authorization_id != self.username


def decode_plain(data: bytes) -> PlainCredentials:
    """``[authzid] NUL authcid NUL passwd`` (RFC 4616 section 2); ``ValueError`` if malformed."""
    parts = data.split(b"\0")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ValueError("PLAIN message must be authzid NUL authcid NUL password")
    authorization_id, username, password = (part.decode("utf-8") for part in parts)
    return PlainCredentials(authorization_id, username, password)
