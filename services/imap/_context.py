"""What a command handler works with: the account's storage, the blob store, the selected mailbox.

A handler is `async def handle_<command>(ctx, command) -> Completion`. It sends
untagged data with `await ctx.emit(...)` as it goes (a large FETCH is written
message by message, never collected), and returns how the command ends. The
transport turns the completion into the tagged response; storage's refusals
become response codes in one place, `refusal()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from libs.blobs import BlobStore
from libs.contracts import errors
from services.imap import _store
from services.imap._mailbox import SelectedMailbox
from services.imap.protocol import ResponseCode, Session, responses


@dataclass(frozen=True)
class Completion:
    status: str = "OK"
    text: str = ""
    code: ResponseCode | None = None


def ok(text: str = "", code: ResponseCode | None = None) -> Completion:
    return Completion("OK", text, code)


def no(text: str, code: str | None = None, args: object = None) -> Completion:
    return Completion("NO", text, None if code is None else responses.code(code, args))


def bad(text: str) -> Completion:
    return Completion("BAD", text)


def refusal(exc: errors.ServiceError, *, target: bool = False) -> Completion:
    """A storage refusal as the NO it means (RFC 5530 codes; TRYCREATE for a missing target)."""
    if isinstance(exc, errors.MailboxNotFound):
        return no("No such mailbox", "TRYCREATE" if target else "NONEXISTENT")
    if isinstance(exc, errors.MailboxExists):
        return no("Mailbox already exists", "ALREADYEXISTS")
    if isinstance(exc, errors.InvalidName):
        return no(f"Invalid mailbox name: {_text(exc)}", "CANNOT")
    if isinstance(exc, errors.OverQuota):
        return no("Quota exceeded", "OVERQUOTA")
    if isinstance(exc, errors.Unavailable):
        return no("Mail storage temporarily unavailable, try again", "UNAVAILABLE")
    if isinstance(exc, errors.Forbidden):
        return no("Permission denied", "NOPERM")  # the rights on a shared mailbox (RFC 4314)
    if isinstance(exc, errors.BadRequest | errors.Conflict):
        return no(_text(exc) or "Cannot do that", "CANNOT")
    return no("Internal error", "SERVERBUG")


def _text(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200].replace("]", ")")


@dataclass
class Context:
    session: Session
    blobs: BlobStore
    emit: Callable[..., Awaitable[None]]
    #: Writes octets as they are (a FETCH response streamed from the blob store); only
    #: between two responses, when the core has nothing queued.
    write: Callable[[bytes], Awaitable[None]]
    append_limit: int
    store: _store.Store | None = None
    selected: SelectedMailbox | None = None
    #: Digests of the APPEND message data stored so far, by literal index.
    uploads: dict[int, str] = field(default_factory=dict)

    @property
    def account_store(self) -> _store.Store:
        if self.store is None:
            raise RuntimeError("not authenticated")  # the core's state table prevents this
        return self.store

    @property
    def mailbox(self) -> SelectedMailbox:
        if self.selected is None:
            raise RuntimeError("no mailbox selected")  # the core's state table prevents this
        return self.selected
