"""The questions a POP3 session asks that only other services can answer.

Is the password right (the directory, `libs.auth.directory_client`), may this
session open the maildrop (its lock in JetStream KV, `_lock.py`), what is in
it (storage, `_mailstore.py`), and which messages does QUIT remove. The
transport asks; this module turns each answer into a POP3 reply. Tests of
the transport may pass any object with the same methods.

Decisions (docs/pop3.md explains them for operators):

- Wrong credentials are `-ERR [AUTH]` and count toward the session's
  failed-login limit; the directory's throttle is `-ERR [LOGIN-DELAY]`
  (RFC 2449 section 8.1.1: not now, try later) and does not count, nor does
  anything that is our fault (`-ERR [SYS/TEMP]`, RFC 3206) or a maildrop in
  use (`-ERR [IN-USE]`, RFC 2449 section 8.1.2).
- A failure to set \\Seen on retrieved messages does not fail QUIT; a failure
  to remove the deleted ones does (`-ERR [SYS/TEMP] Some deleted messages
  not removed`, RFC 1939 section 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from libs.auth.directory_client import AuthOutcome, AuthProblem, DirectoryAuth
from libs.blobs import BlobStore
from libs.contracts.errors import ServiceError
from libs.log import get_logger
from services.pop3._lock import LockUnavailable, MaildropLock, MaildropLocks
from services.pop3._mailstore import MailStore
from services.pop3.protocol import Maildrop, MaildropMessage, Reply, replies

_log = get_logger()


@dataclass(frozen=True)
class Backends:
    """What sessions share: the directory, storage, the blob store and the lock bucket."""

    directory: DirectoryAuth
    store: MailStore
    blobs: BlobStore
    locks: MaildropLocks


@dataclass(frozen=True)
class Refusal:
    """A login that does not go through: the reply, whether it counts as a failed
    login, and the `result` label of parley_pop3_logins_total."""

    reply: Reply
    counts: bool
    result: str


def refusal(outcome: AuthOutcome) -> Refusal:
    """The answer to credentials the directory did not accept."""
    match outcome.problem:
        case AuthProblem.THROTTLED:
            return Refusal(replies.auth_throttled(), False, "throttled")
        case AuthProblem.UNAVAILABLE:
            return Refusal(replies.temporary_failure(), False, "unavailable")
        case AuthProblem.DISABLED:
            return Refusal(replies.err("Account disabled", replies.RespCode.AUTH), True, "disabled")
        case _:
            return Refusal(replies.auth_failed(), True, "invalid")


class Pop3Policy:
    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    async def authenticate(self, username: str, password: str, *, client_address: str | None) -> AuthOutcome:
        return await self.backends.directory.authenticate(username, password, client_address=client_address)

    async def lock(self, account: str, *, session_id: str) -> MaildropLock | Refusal:
        """The maildrop's lock (RFC 1939 section 8), or why not."""
        try:
            lock = await self.backends.locks.acquire(account, session_id=session_id)
        except LockUnavailable as exc:
            _log.warning("pop3.lock.unavailable", account=account, error=str(exc))
            return Refusal(replies.temporary_failure(), False, "unavailable")
        if lock is None:
            return Refusal(replies.in_use(), False, "in_use")
        return lock

    async def scan(self, account: str) -> Maildrop | Refusal:
        """The scan listing of the INBOX, taken once per session."""
        try:
            return await self.backends.store.scan(account)
        except ServiceError as exc:
            _log.warning("pop3.maildrop.unavailable", account=account, error=str(exc))
            return Refusal(replies.temporary_failure(), False, "unavailable")

    async def update(
        self, account: str, *, deleted: Sequence[MaildropMessage], retrieved: Sequence[MaildropMessage]
    ) -> int | None:
        """The UPDATE state: \\Seen on `retrieved`, then remove exactly `deleted`.

        How many messages storage removed, or None when the removal failed.
        """
        store = self.backends.store
        if retrieved:
            try:
                await store.mark_seen(account, [m.uid for m in retrieved])
            except ServiceError as exc:
                _log.info("pop3.update.seen_failed", account=account, error=str(exc))
        if not deleted:
            return 0
        try:
            return await store.remove(account, [m.uid for m in deleted])
        except ServiceError as exc:
            _log.warning("pop3.update.failed", account=account, error=str(exc), deleted=len(deleted))
            return None
