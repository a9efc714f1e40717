"""The questions an SMTP session asks that only other services can answer.

Who is a recipient here (`directory.rpc.resolve`), is a password right
(`directory.rpc.auth`), did storage keep the message (`storage.rpc.deliver`),
and did the outbound queue take its remote recipients (`_submit.py`).
The transport asks; this module turns each answer into an SMTP reply. Tests of
the transport may pass any object with the same methods.

Decisions (docs/smtp.md explains them for operators):

- A remote recipient without AUTH is refused with 554 5.7.1: we are no open
  relay (RFC 5321 section 3.9, RFC 2505). After AUTH it is accepted and
  queued for onward delivery (`MAIL_OUTBOUND`).
- A local address that forwards to remote addresses (a forwarder) is
  accepted from anyone: delivering mail for our own domains is not relaying.
  Its remote targets are queued like an authenticated user's recipients.
- The directory or storage being down is a temporary failure (451 4.4.3 at
  RCPT, 451 4.3.0 after DATA): the sender retries, nothing is lost.
- A mailbox over quota is 452 4.2.2 (RFC 3463: mailbox full), temporary,
  because quota frees up as the user deletes mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from libs.auth.directory_client import AuthOutcome, AuthProblem, DirectoryAuth
from libs.bus import Bus
from libs.contracts import directory, storage
from libs.contracts.errors import OverQuota, ServiceError
from libs.contracts.smtp import OutboundMessage
from libs.log import get_logger
from services.smtp import _submit
from services.smtp.protocol import Address, Reply

_log = get_logger()

OVER_QUOTA = OverQuota.code


def relay_denied() -> Reply:
    return Reply(554, "5.7.1", "Relay access denied")


def mailbox_unknown() -> Reply:
    return Reply(550, "5.1.1", "Mailbox unknown")


def bad_address() -> Reply:
    return Reply(553, "5.1.3", "Bad recipient address syntax")


def directory_unavailable() -> Reply:
    return Reply(451, "4.4.3", "Directory temporarily unavailable, try again later")


def mailbox_full() -> Reply:
    return Reply(452, "4.2.2", "Mailbox full")


def storage_unavailable() -> Reply:
    return Reply(451, "4.3.0", "Mail system temporarily unavailable, try again later")


def delivered(message_id: str) -> Reply:
    return Reply(250, "2.0.0", f"Message accepted for delivery as {message_id}")


def auth_throttled() -> Reply:
    return Reply(454, "4.7.0", "Too many authentication failures, try again later")


@dataclass(frozen=True)
class RecipientVerdict:
    reply: Reply | None  # None: accepted
    accounts: tuple[str, ...] = ()
    remote: tuple[str, ...] = ()  # addresses outside our domains to queue for


@dataclass(frozen=True)
class AuthVerdict:
    account: str | None  # None: refused with `reply`
    reply: Reply | None = None
    signature: str | None = None  # SCRAM ServerSignature, base64


@dataclass
class DeliveryOutcome:
    """What storage did with each account; `error` holds the failure code of the account."""

    stored: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    unavailable: bool = False

    def reply_for(self, accounts: Sequence[str], message_id: str) -> Reply:
        """One recipient's reply: 250 only when every account it expanded to was stored."""
        if self.unavailable:
            return storage_unavailable()
        failed = [self.errors.get(a, "missing") for a in accounts if a not in self.stored]
        if not failed:
            return delivered(message_id)
        if OVER_QUOTA in failed:
            return mailbox_full()
        return storage_unavailable()


class BusPolicy:
    """Answers over the bus: the directory for addresses and passwords, storage for delivery."""

    def __init__(self, bus: Bus, *, hostname: str) -> None:
        self.bus = bus
        self.hostname = hostname
        self._auth = DirectoryAuth(bus, protocol="smtp")

    async def check_recipient(self, address: Address, *, authenticated: bool, size: int | None) -> RecipientVerdict:
        # RFC 5321 section 4.5.1: <Postmaster> without a domain must be accepted; it
        # means the postmaster of this host.
        text = f"postmaster@{self.hostname}" if address.domain is None else address.text
        try:
            answer = await self.bus.request(
                directory.RPC_RESOLVE, directory.ResolveRequest(address=text), directory.ResolveReply
            )
        except ServiceError as exc:
            _log.warning("smtp.rcpt.directory_failed", error=str(exc))
            return RecipientVerdict(directory_unavailable())
        match answer.status:
            case directory.ResolveStatus.LOCAL if answer.accounts or answer.remote:
                full = await self._full_account(answer.accounts, size)
                if full is not None:
                    return RecipientVerdict(mailbox_full())
                return RecipientVerdict(None, tuple(dict.fromkeys(answer.accounts)), tuple(answer.remote))
            case directory.ResolveStatus.UNKNOWN | directory.ResolveStatus.LOCAL:
                return RecipientVerdict(mailbox_unknown())
            case directory.ResolveStatus.INVALID:
                return RecipientVerdict(bad_address())
            case _ if authenticated:
                # Keep the address as the client wrote it: a remote local part may be case-sensitive.
                return RecipientVerdict(None, remote=(text,))
            case _:
                return RecipientVerdict(relay_denied())

    async def _full_account(self, accounts: Sequence[str], size: int | None) -> str | None:
        """An account that cannot take one more message now (refused at RCPT, per recipient)."""
        for account in accounts:
            try:
                quota = await self.bus.request(
                    storage.RPC_QUOTA, storage.QuotaRequest(account=account), storage.QuotaReply
                )
            except ServiceError:
                continue  # delivery decides; a failing check must not refuse mail
            incoming = size or 0
            if quota.bytes_limit is not None and (
                quota.bytes_used >= quota.bytes_limit or quota.bytes_used + incoming > quota.bytes_limit
            ):
                return account
            if quota.messages_limit is not None and quota.messages_used >= quota.messages_limit:
                return account
        return None

    async def authenticate(self, username: str, password: str, *, client_address: str | None) -> AuthVerdict:
        return auth_verdict(await self._auth.authenticate(username, password, client_address=client_address))

    async def scram_params(self, username: str) -> tuple[str, int] | None:
        """Salt and iterations for the server-first message; None when the directory is down."""
        return await self._auth.scram_params(username)

    async def authenticate_scram(
        self, username: str, auth_message: str, proof: str, *, client_address: str | None
    ) -> AuthOutcome:
        """The directory's answer as it is: the shared SCRAM exchange reads it (`auth_verdict` maps it)."""
        return await self._auth.authenticate_scram(username, auth_message, proof, client_address=client_address)

    async def queue_remote(self, message: OutboundMessage) -> Reply | None:
        """Queue the remote recipients; None once JetStream has the message, else the 451 to answer."""
        return None if await _submit.queue(self.bus, message) else storage_unavailable()

    async def save_sent(self, *, account: str, digest: str) -> None:
        """The submitter's Sent copy, when the account asks for one; a failure is only logged."""
        await _submit.save_sent(self.bus, account=account, digest=digest)

    async def deliver(self, digest: str, accounts: Sequence[str]) -> DeliveryOutcome:
        """Store the blob in every account's INBOX; storage answers after its commit."""
        request = storage.DeliverRequest(
            blob=digest,
            recipients=[storage.DeliveryTarget(account=a) for a in accounts],
            internal_date=datetime.now(UTC),
        )
        try:
            answer = await self.bus.request(storage.RPC_DELIVER, request, storage.DeliverReply, timeout=60.0)
        except ServiceError as exc:
            _log.warning("smtp.deliver.failed", error=str(exc))
            return DeliveryOutcome(unavailable=True)
        outcome = DeliveryOutcome()
        for result in answer.results:
            if result.ok:
                outcome.stored.add(result.account)
            else:
                outcome.errors[result.account] = result.error or "error"
        return outcome


def auth_verdict(outcome: AuthOutcome) -> AuthVerdict:
    """The SMTP reply for the directory's answer (None: the session's own 535)."""
    if outcome.ok:
        return AuthVerdict(outcome.account, signature=outcome.signature)
    if outcome.problem is AuthProblem.UNAVAILABLE:
        return AuthVerdict(None, Reply(454, "4.7.0", "Temporary authentication failure"))
    if outcome.problem is AuthProblem.THROTTLED:
        return AuthVerdict(None, auth_throttled())
    return AuthVerdict(None, None)
