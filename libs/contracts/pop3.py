"""The pop3 service's shared state: the maildrop locks in JetStream KV.

POP3 needs an exclusive lock per maildrop (RFC 1939 section 8): a second
session for the same account gets `-ERR [IN-USE]`, whichever pop3 replica
it reaches. The lock is one entry of the KV bucket `LOCK_BUCKET`, keyed by
the account's token (`libs.bus.encode_token`), created only if absent and
refreshed by its holder; the bucket's TTL removes the entry of a holder that
crashed. Other services may read the bucket (an IMAP server could show that
a POP3 client is draining the INBOX) but never write it.
"""

from __future__ import annotations

from datetime import datetime

from libs.bus.subjects import encode_token
from libs.contracts.base import Message

SERVICE_NAME = "pop3"

LOCK_BUCKET = "pop3_maildrop_locks"


def lock_key(account: str) -> str:
    return encode_token(account)


class MaildropLockHolder(Message):
    """The value of a lock entry: who holds the maildrop."""

    account: str
    session_id: str
    node: str
    acquired_at: datetime
