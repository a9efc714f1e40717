"""Commands of the authenticated state: LIST, LSUB, STATUS, SELECT/EXAMINE, CREATE, DELETE,
RENAME, SUBSCRIBE, UNSUBSCRIBE, NAMESPACE, GETQUOTA, GETQUOTAROOT (RFC 9051 section 6.3).

Storage names mailboxes in UTF-8 with "/" as separator, like the core's
commands; INBOX is always spelt INBOX.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any

from libs.contracts import errors
from services.imap import _acl, _shared, _store
from services.imap._context import Completion, Context, no, ok, refusal
from services.imap._mailbox import SelectedMailbox, compact
from services.imap.protocol import commands as c
from services.imap.protocol import responses

DELIMITER = "/"
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


# --- LIST / LSUB (RFC 9051 6.3.9, RFC 5258, RFC 5819, RFC 6154) ----------------------------------


def pattern_regex(reference: str, pattern: str) -> re.Pattern[str]:
    """`*` matches anything, `%` anything but the separator; INBOX matches case-insensitively."""
    full = pattern if pattern.startswith(DELIMITER) or not reference else reference + pattern
    if full[:5].upper() == "INBOX" and (len(full) == 5 or full[5] in (DELIMITER, "*", "%")):
        full = "INBOX" + full[5:]
    parts = [".*" if ch == "*" else f"[^{DELIMITER}]*" if ch == "%" else re.escape(ch) for ch in full]
    return re.compile("".join(parts), re.DOTALL)


def _tree(mailboxes: Iterable[_store.MailboxInfo]) -> dict[str, _store.MailboxInfo | None]:
    """Every mailbox, plus the parents that exist only as part of a name (None)."""
    names: dict[str, _store.MailboxInfo | None] = {}
    for info in mailboxes:
        names[info.name] = info
        pieces = info.name.split(DELIMITER)
        for i in range(1, len(pieces)):
            names.setdefault(DELIMITER.join(pieces[:i]), None)
    return names


def _has_children(name: str, names: Iterable[str]) -> bool:
    prefix = name + DELIMITER
    return any(other.startswith(prefix) for other in names)


async def handle_list(ctx: Context, command: c.List | c.Lsub) -> Completion:
    lsub = isinstance(command, c.Lsub)
    patterns = (command.pattern,) if isinstance(command, c.Lsub) else command.patterns
    selection = () if lsub else command.selection  # type: ignore[union-attr]
    returns = () if lsub else command.return_options  # type: ignore[union-attr]
    status_items = () if lsub else command.status_items  # type: ignore[union-attr]
    if patterns == ("",) and not selection:
        # RFC 9051 6.3.9: an empty pattern asks for the hierarchy delimiter and root.
        await ctx.emit(responses.list_mailbox("", attributes=("\\Noselect",), command="LSUB" if lsub else "LIST"))
        return ok()
    try:
        mailboxes = await ctx.account_store.mailboxes(with_counts=bool(status_items))
    except errors.ServiceError as exc:
        return refusal(exc)
    tree = _tree(mailboxes)
    regexes = [pattern_regex(command.reference, p) for p in patterns]
    subscribed_only = lsub or "SUBSCRIBED" in selection
    for name in sorted(tree, key=lambda n: (n != "INBOX", n)):
        if not any(rx.fullmatch(name) for rx in regexes):
            continue
        info = tree[name]
        if subscribed_only and (info is None or not info.subscribed):
            continue
        if "SPECIAL-USE" in selection and (info is None or not info.special_use):
            continue
        attributes = _attributes(name, info, tree, lsub=lsub, extended=bool(selection or returns))
        if "SUBSCRIBED" in returns or "SUBSCRIBED" in selection:
            if info is not None and info.subscribed:
                attributes.append("\\Subscribed")
        await ctx.emit(responses.list_mailbox(name, attributes=attributes, command="LSUB" if lsub else "LIST"))
        if status_items and info is not None:
            await ctx.emit(responses.status(name, status_values(info, status_items, ctx.append_limit)))
    return ok()


def _attributes(
    name: str, info: _store.MailboxInfo | None, tree: dict[str, Any], *, lsub: bool, extended: bool
) -> list[str]:
    attributes: list[str] = []
    if info is None:
        attributes.append("\\NonExistent" if extended else "\\Noselect")
    if not lsub:
        attributes.append("\\HasChildren" if _has_children(name, tree) else "\\HasNoChildren")
    if info is not None and info.special_use:
        attributes.append(info.special_use)
    return attributes


# --- STATUS (RFC 9051 6.3.11) --------------------------------------------------------------------


def status_values(info: _store.MailboxInfo, items: Iterable[str], append_limit: int) -> dict[str, int]:
    values = {
        "MESSAGES": info.messages, "UIDNEXT": info.uidnext, "UIDVALIDITY": info.uidvalidity,
        "UNSEEN": info.unseen, "DELETED": info.deleted, "SIZE": info.size, "RECENT": 0,
        "HIGHESTMODSEQ": info.highest_modseq, "APPENDLIMIT": append_limit,
    }  # fmt: skip
    return {item: values[item] for item in items if item in values}


async def handle_status(ctx: Context, command: c.Status) -> Completion:
    try:
        info = await ctx.account_store.status(command.mailbox)
    except errors.ServiceError as exc:
        return refusal(exc)
    await ctx.emit(responses.status(command.mailbox, status_values(info, command.items, ctx.append_limit)))
    return ok()


# --- SELECT / EXAMINE (RFC 9051 6.3.2, RFC 7162 3.2.5) ------------------------------------------


async def handle_select(ctx: Context, command: c.Select) -> Completion:
    ctx.selected = None
    store = ctx.account_store
    try:
        # Independent reads: asked together, SELECT waits for the slowest of them, not their sum.
        info, listing, rights = await asyncio.gather(
            store.status(command.mailbox), store.uids(command.mailbox), _acl.selection_rights(ctx, command.mailbox)
        )
    except errors.ServiceError as exc:
        return refusal(exc)
    read_only = command.read_only or _acl.read_only(rights)
    mailbox = SelectedMailbox(
        command.mailbox, uidvalidity=listing.uidvalidity, uids=list(listing.uids),
        highest_modseq=listing.highest_modseq, read_only=read_only, mailbox_id=info.mailbox_id,
    )  # fmt: skip
    permanent = [] if read_only else _acl.permanent_flags(rights, SYSTEM_FLAGS)
    out: list[responses.Response] = [
        responses.flags(SYSTEM_FLAGS),
        responses.ok("Flags permitted", code=responses.code("PERMANENTFLAGS", permanent)),
        responses.exists(mailbox.exists),
        responses.ok("UIDs valid", code=responses.code("UIDVALIDITY", str(mailbox.uidvalidity))),
        responses.ok("Predicted next UID", code=responses.code("UIDNEXT", str(listing.uidnext))),
        responses.ok("Highest", code=responses.code("HIGHESTMODSEQ", str(listing.highest_modseq))),
    ]
    rev1 = "IMAP4REV2" not in ctx.session.enabled
    if rev1:
        # RFC 9051 removed \Recent, RECENT and [UNSEEN]; IMAP4rev1 clients still get them (never recent).
        out.insert(3, responses.recent(0))
    if rev1 and info.first_unseen_uid is not None and (seq := mailbox.seq_of(info.first_unseen_uid)) is not None:
        out.append(responses.ok("First unseen", code=responses.code("UNSEEN", str(seq))))
    await ctx.emit(*out)
    if command.qresync is not None and command.qresync.uidvalidity == mailbox.uidvalidity:
        await _resynchronise(ctx, mailbox, command.qresync)
    ctx.selected = mailbox
    access = "READ-ONLY" if read_only else "READ-WRITE"
    return ok(f"{command.name} completed", responses.code(access))


async def _resynchronise(ctx: Context, mailbox: SelectedMailbox, params: c.QresyncParams) -> None:
    """RFC 7162 3.2.5.2: VANISHED (EARLIER) for removed known UIDs, FETCH for changed ones."""
    store = ctx.account_store
    gone = await store.vanished(mailbox.name, params.modseq)
    if params.known_uids is not None and gone:
        known = params.known_uids
        gone = [u for u in gone if any(r.bounds(2**32)[0] <= u <= r.bounds(2**32)[1] for r in known.ranges)]
    if gone:
        await ctx.emit(responses.vanished(compact(gone), earlier=True))
    changed = await store.fetch_all(mailbox.name, ["flags", "modseq"], changed_since=params.modseq)
    for message in changed:
        seq = mailbox.seq_of(message.uid)
        if seq is not None:
            items = [("UID", message.uid), ("FLAGS", list(message.flags or ())), ("MODSEQ", message.modseq)]
            await ctx.emit(responses.fetch(seq, items))


# --- CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE ----------------------------------------------


async def handle_create(ctx: Context, command: c.Create) -> Completion:
    name = command.mailbox.rstrip(DELIMITER)  # RFC 9051 6.3.4: a trailing separator is dropped
    if len(command.special_use) > 1:
        return no("One special use per mailbox", "USEATTR")
    try:
        await ctx.account_store.create(name, command.special_use[0] if command.special_use else None)
    except errors.InvalidName as exc:
        if command.special_use and "special" in str(exc).lower():
            return no("Unsupported special use", "USEATTR")
        return refusal(exc)
    except errors.ServiceError as exc:
        return refusal(exc)
    return ok()


async def handle_delete(ctx: Context, command: c.Delete) -> Completion:
    if command.mailbox == "INBOX":
        return no("INBOX cannot be deleted", "CANNOT")
    try:
        await ctx.account_store.delete(command.mailbox)
    except errors.ServiceError as exc:
        return refusal(exc)
    if ctx.selected is not None and ctx.selected.name == command.mailbox:
        ctx.selected.stale = True
    return ok()


async def handle_rename(ctx: Context, command: c.Rename) -> Completion:
    try:
        await ctx.account_store.rename(command.mailbox, command.new_name.rstrip(DELIMITER))
    except errors.ServiceError as exc:
        return refusal(exc)
    selected = ctx.selected
    if selected is not None and selected.name == command.mailbox:
        if command.mailbox == "INBOX":
            selected.stale = True  # RFC 9051 6.3.6: INBOX stays, empty; its messages moved
        else:
            selected.name = command.new_name.rstrip(DELIMITER)
    return ok()


async def handle_subscribe(ctx: Context, command: c.Subscribe | c.Unsubscribe) -> Completion:
    try:
        await ctx.account_store.subscribe(command.mailbox, isinstance(command, c.Subscribe))
    except errors.MailboxNotFound:
        if isinstance(command, c.Unsubscribe):
            return ok()
        return no("No such mailbox", "NONEXISTENT")
    except errors.ServiceError as exc:
        return refusal(exc)
    return ok()


async def handle_namespace(ctx: Context, command: c.Namespace) -> Completion:
    # RFC 2342: one personal namespace, no prefix; other owners' shared mailboxes under theirs.
    await ctx.emit(responses.namespace([("", DELIMITER)], [(_shared.PREFIX, DELIMITER)]))
    return ok()


# --- QUOTA (RFC 9208) -----------------------------------------------------------------------------

QUOTA_ROOT = ""


async def _quota_response(ctx: Context) -> responses.Response:
    quota = await ctx.account_store.quota()
    resources: dict[str, tuple[int, int]] = {}
    if quota.bytes_limit is not None:
        # RFC 9208 section 5.1: STORAGE is in units of 1024 octets.
        resources["STORAGE"] = (-(-quota.bytes_used // 1024), quota.bytes_limit // 1024)
    if quota.messages_limit is not None:
        resources["MESSAGE"] = (quota.messages_used, quota.messages_limit)
    return responses.quota(QUOTA_ROOT, resources)


async def handle_getquota(ctx: Context, command: c.GetQuota) -> Completion:
    if command.root != QUOTA_ROOT:
        return no("No such quota root", "NONEXISTENT")
    try:
        await ctx.emit(await _quota_response(ctx))
    except errors.ServiceError as exc:
        return refusal(exc)
    return ok()


async def handle_getquotaroot(ctx: Context, command: c.GetQuotaRoot) -> Completion:
    try:
        await ctx.account_store.status(command.mailbox)
        quota = await _quota_response(ctx)
    except errors.ServiceError as exc:
        return refusal(exc)
    await ctx.emit(responses.quotaroot(command.mailbox, [QUOTA_ROOT]), quota)
    return ok()


async def handle_setquota(ctx: Context, command: c.SetQuota) -> Completion:
    return no("Quotas are set by the administrator", "NOPERM")
