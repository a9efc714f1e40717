"""Commands on messages: FETCH, STORE, COPY, MOVE, EXPUNGE, CLOSE, UNSELECT, SEARCH, SORT, THREAD,
APPEND (RFC 9051 sections 6.3.12 and 6.4, UIDPLUS, MOVE, CONDSTORE/QRESYNC, ESEARCH, SORT/THREAD).

Every change is answered only after storage's reply, which comes after its
commit: an OK here means durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from libs.contracts import errors
from services.imap import _search
from services.imap._context import Completion, Context, bad, no, ok, refusal
from services.imap._fetch import BlobRange, FetchRenderer, UnknownEncoding, render_fetch, storage_items, stream_range
from services.imap._mailbox import SelectedMailbox, compact
from services.imap.protocol import SequenceSet, responses
from services.imap.protocol import commands as c

FETCH_BATCH = 200


def _targets(mailbox: SelectedMailbox, sequence_set: SequenceSet, *, uid: bool) -> list[int] | Completion:
    if not uid and not mailbox.all_seq_in(sequence_set):
        return bad("Invalid message sequence number")  # RFC 9051 section 6.4: BAD for numbers past EXISTS
    return mailbox.resolve(sequence_set, uid=uid)


def _uid_list(uids: Sequence[int]) -> str:
    """UIDs for COPYUID/APPENDUID, in the order given (RFC 4315: pairs correspond by position)."""
    if list(uids) == sorted(uids):
        return str(compact(uids))
    return ",".join(str(u) for u in uids)


# --- FETCH (RFC 9051 6.4.5, RFC 7162 3.1.4 and 3.2.6) ---------------------------------------------


async def handle_fetch(ctx: Context, command: c.Fetch) -> Completion:
    mailbox, store = ctx.mailbox, ctx.account_store
    uids = _targets(mailbox, command.sequence_set, uid=command.uid)
    if isinstance(uids, Completion):
        return uids
    try:
        if command.vanished and command.changed_since is not None:
            wanted = set(uids)
            gone = [u for u in await store.vanished(mailbox.name, command.changed_since) if u not in wanted]
            # RFC 7162 3.2.6: UIDs in the requested range that no longer exist.
            gone = [u for u in gone if _in_uid_set(u, command.sequence_set, mailbox)]
            if gone:
                await ctx.emit(responses.vanished(compact(gone), earlier=True))
        attributes = command.attributes
        items = storage_items(attributes)
        renderer = FetchRenderer(ctx.blobs)
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            messages = await store.fetch(mailbox.name, batch, items, changed_since=command.changed_since)
            seen_set = await _mark_seen(ctx, messages, attributes)
            for message in messages:
                seq = mailbox.seq_of(message.uid)
                if seq is None:
                    continue
                changed_flags = message.uid in seen_set
                condstore = command.changed_since is not None or (changed_flags and ctx.session.condstore)
                data = await renderer.items(
                    message, attributes, uid=command.uid or (changed_flags and ctx.session.condstore),
                    condstore=condstore,
                )  # fmt: skip
                if changed_flags and not any(a.name == "FLAGS" for a in attributes):
                    data.append(("FLAGS", list(seen_set[message.uid])))
                await _send_fetch(ctx, seq, data)
    except UnknownEncoding:
        return no("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE")
    except errors.ServiceError as exc:
        return refusal(exc)
    return ok()


async def _send_fetch(ctx: Context, seq: int, items: list[tuple[str, Any]]) -> None:
    """One FETCH response; large section data goes from the blob store to the socket in chunks."""
    for piece in render_fetch(seq, items, utf8=ctx.session.utf8):
        if isinstance(piece, BlobRange):
            async for chunk in stream_range(ctx.blobs, piece):
                await ctx.write(chunk)
        else:
            await ctx.write(piece)


def _in_uid_set(uid: int, sequence_set: SequenceSet, mailbox: SelectedMailbox) -> bool:
    largest = max(mailbox.uids[-1] if mailbox.uids else 0, uid)
    return any(low <= uid <= high for low, high in (r.bounds(largest) for r in sequence_set.ranges))


async def _mark_seen(ctx: Context, messages: list[Any], attributes: tuple[c.FetchAttribute, ...]) -> dict[int, Any]:
    """BODY[...] without PEEK sets \\Seen (RFC 9051 6.4.5); answers the new flags by UID."""
    mailbox = ctx.mailbox
    if mailbox.read_only or not any(a.sets_seen for a in attributes):
        return {}
    unseen = [m.uid for m in messages if "\\Seen" not in (m.flags or ())]
    if not unseen:
        return {}
    changed, _ = await ctx.account_store.store_flags(
        mailbox.name, unseen, mode="add", flags=["\\Seen"], unchanged_since=None
    )
    for _uid, modseq, _flags in changed:
        mailbox.note_own_modseq(modseq)
    new_flags = {uid: flags for uid, _modseq, flags in changed}
    new_modseqs = {uid: modseq for uid, modseq, _flags in changed}
    for index, message in enumerate(messages):
        if message.uid in new_flags:
            messages[index] = replace(message, flags=new_flags[message.uid], modseq=new_modseqs[message.uid])
    return new_flags


# --- STORE (RFC 9051 6.4.6, RFC 7162 3.1.3) -----------------------------------------------------


async def handle_store(ctx: Context, command: c.Store) -> Completion:
    mailbox = ctx.mailbox
    if mailbox.read_only:
        return no("Mailbox is read-only", "CANNOT")
    uids = _targets(mailbox, command.sequence_set, uid=command.uid)
    if isinstance(uids, Completion):
        return uids
    flags = [f for f in command.flags if f.lower() != "\\recent"]
    if not uids:
        return ok()
    try:
        changed, modified = await ctx.account_store.store_flags(
            mailbox.name, uids, mode=command.mode, flags=flags, unchanged_since=command.unchanged_since
        )
    except errors.ServiceError as exc:
        return refusal(exc)
    condstore = ctx.session.condstore
    for uid, modseq, new_flags in changed:
        mailbox.note_own_modseq(modseq)
        seq = mailbox.seq_of(uid)
        if seq is None:
            continue
        items: list[tuple[str, Any]] = []
        if command.uid or condstore:
            # RFC 7162 section 3.1: with CONDSTORE on, FETCH responses caused by a flag change carry UID and MODSEQ.
            items.append(("UID", uid))
        if not command.silent:
            items.append(("FLAGS", list(new_flags)))
        if condstore:
            # RFC 7162 3.1.3: MODSEQ of every changed message, also with .SILENT.
            items.append(("MODSEQ", modseq))
        if items and (not command.silent or condstore):
            await ctx.emit(responses.fetch(seq, items))
    if modified:
        numbers = modified if command.uid else [s for u in modified if (s := mailbox.seq_of(u)) is not None]
        if numbers:
            return ok("Some messages were modified", responses.code("MODIFIED", str(compact(numbers))))
    return ok()


# --- COPY / MOVE (RFC 9051 6.4.7, RFC 6851, RFC 4315 COPYUID) ------------------------------------


async def handle_copy(ctx: Context, command: c.Copy | c.Move) -> Completion:
    mailbox = ctx.mailbox
    move = isinstance(command, c.Move)
    if move and mailbox.read_only:
        return no("Mailbox is read-only", "CANNOT")
    uids = _targets(mailbox, command.sequence_set, uid=command.uid)
    if isinstance(uids, Completion):
        return uids
    if not uids:
        return ok("Nothing to do") if command.uid else no("No messages", "CANNOT")
    try:
        reply = await ctx.account_store.copy(mailbox.name, uids, command.mailbox, move=move)
    except errors.ServiceError as exc:
        return refusal(exc, target=True)
    copyuid = None
    if reply.source_uids:
        copyuid = responses.code(
            "COPYUID", f"{reply.uidvalidity} {_uid_list(reply.source_uids)} {_uid_list(reply.target_uids)}"
        )
    if not move:
        return ok(code=copyuid)
    if copyuid is not None:
        # RFC 6851 section 4.3: COPYUID goes in an untagged OK before the expunges.
        await ctx.emit(responses.ok("Moved", code=copyuid))
    mailbox.note_own_modseq(reply.highest_modseq)
    await _announce_expunged(ctx, reply.expunged)
    return ok()


async def _announce_expunged(ctx: Context, uids: Sequence[int]) -> None:
    mailbox = ctx.mailbox
    present = [u for u in uids if mailbox.seq_of(u) is not None]
    if not present:
        return
    if ctx.session.qresync:
        mailbox.forget(present)
        await ctx.emit(responses.vanished(compact(present)))
    else:
        await ctx.emit(*(responses.expunge(n) for n in mailbox.forget(present)))


# --- EXPUNGE, CLOSE, UNSELECT (RFC 9051 6.4.3, 6.4.2, RFC 3691, RFC 4315 UID EXPUNGE) -------------


async def handle_expunge(ctx: Context, command: c.Expunge) -> Completion:
    mailbox = ctx.mailbox
    if mailbox.read_only:
        return no("Mailbox is read-only", "CANNOT")
    uids = None if command.uids is None else mailbox.resolve(command.uids, uid=True)
    if uids is not None and not uids:
        return ok()
    try:
        expunged = await ctx.account_store.expunge(mailbox.name, uids)
    except errors.ServiceError as exc:
        return refusal(exc)
    await _announce_expunged(ctx, expunged)
    return ok()


async def handle_close(ctx: Context, command: c.Close | c.Unselect) -> Completion:
    mailbox = ctx.mailbox
    if isinstance(command, c.Close) and not mailbox.read_only:
        try:
            await ctx.account_store.expunge(mailbox.name)  # silently (RFC 9051 6.4.1)
        except errors.ServiceError as exc:
            return refusal(exc)
    ctx.selected = None
    return ok()


async def handle_check(ctx: Context, command: c.Check | c.Noop) -> Completion:
    return ok()  # updates are added by the caller; every change is already durable


# --- SEARCH (RFC 9051 6.4.4, RFC 4731 ESEARCH, RFC 5182 SEARCHRES) --------------------------------


async def _matching(ctx: Context, criteria: c.SearchKey) -> tuple[list[int], int | None] | Completion:
    mailbox = ctx.mailbox
    try:
        tree = _search.storage_criteria(criteria, mailbox)
        matches = await ctx.account_store.search(mailbox.name, tree)
    except ValueError as exc:
        return no(str(exc), "CANNOT")
    except errors.ServiceError as exc:
        return refusal(exc)
    known = set(mailbox.uids)
    return [u for u in matches.uids if u in known], matches.highest_modseq


def _uses_modseq(key: c.SearchKey) -> bool:
    stack = [key]
    while stack:
        item = stack.pop()
        if item.op == "modseq":
            return True
        stack.extend(item.keys)
    return False


async def handle_search(ctx: Context, command: c.Search) -> Completion:
    mailbox = ctx.mailbox
    found = await _matching(ctx, command.criteria)
    if isinstance(found, Completion):
        return found
    uids, highest = found
    modseq = highest if _uses_modseq(command.criteria) and uids else None
    numbers = uids if command.uid else [mailbox.seq_of(u) or 0 for u in uids]
    return_options = command.return_options
    if return_options is None and "IMAP4REV2" in ctx.session.enabled:
        return_options = ()  # RFC 9051 6.4.4: an IMAP4rev2 client gets ESEARCH (ALL)
    if return_options is None:
        await ctx.emit(responses.search(numbers, modseq=modseq))
        return ok()
    options = set(return_options) or {"ALL"}
    if "SAVE" in options:
        mailbox.saved = list(uids)
        options.discard("SAVE")
        if not options:
            return ok()  # RFC 5182 section 2.1: SAVE alone returns no ESEARCH
    await ctx.emit(
        responses.esearch(
            tag=command.tag,
            uid=command.uid,
            min=min(numbers) if "MIN" in options and numbers else None,
            max=max(numbers) if "MAX" in options and numbers else None,
            all=compact(numbers) if "ALL" in options and numbers else None,
            count=len(numbers) if "COUNT" in options else None,
            modseq=modseq,
        )  # fmt: skip
    )
    return ok()


# --- SORT and THREAD (RFC 5256) -----------------------------------------------------------------------


async def _messages_for(ctx: Context, criteria: c.SearchKey) -> list[Any] | Completion:
    found = await _matching(ctx, criteria)
    if isinstance(found, Completion):
        return found
    uids, _ = found
    messages: list[Any] = []
    try:
        for start in range(0, len(uids), 1000):
            messages += await ctx.account_store.fetch(ctx.mailbox.name, uids[start : start + 1000], _search.SORT_ITEMS)
    except errors.ServiceError as exc:
        return refusal(exc)
    return messages


async def handle_sort(ctx: Context, command: c.Sort) -> Completion:
    messages = await _messages_for(ctx, command.criteria)
    if isinstance(messages, Completion):
        return messages
    try:
        ordered = _search.sort_messages(messages, command.sort_criteria)
    except ValueError as exc:
        return bad(str(exc))
    numbers = ordered if command.uid else [ctx.mailbox.seq_of(u) or 0 for u in ordered]
    await ctx.emit(responses.sort(numbers))
    return ok()


async def handle_thread(ctx: Context, command: c.Thread) -> Completion:
    messages = await _messages_for(ctx, command.criteria)
    if isinstance(messages, Completion):
        return messages
    if command.algorithm == "ORDEREDSUBJECT":
        threads = _search.thread_orderedsubject(messages)
    else:
        threads = _search.thread_references(messages)
    if not command.uid:
        threads = [_renumber(t, ctx.mailbox) for t in threads]
    await ctx.emit(responses.thread(threads))
    return ok()


def _renumber(node: Any, mailbox: SelectedMailbox) -> Any:
    if isinstance(node, int):
        return mailbox.seq_of(node) or 0
    return [_renumber(item, mailbox) for item in node]


# --- APPEND (RFC 9051 6.3.12, RFC 3502 MULTIAPPEND, RFC 4315 APPENDUID) -------------------------------


async def handle_append(ctx: Context, command: c.Append) -> Completion:
    """The messages are already in the blob store (`ctx.uploads`); storage files them."""
    store = ctx.account_store
    uids: list[int] = []
    uidvalidity = 0
    try:
        for message in command.messages:
            digest = ctx.uploads.get(message.data.index)
            if digest is None:
                return no("Message data was not stored", "SERVERBUG")
            flags = [f for f in message.flags if f.lower() != "\\recent"]
            uidvalidity, uid = await store.append(
                command.mailbox, digest, flags=flags, internal_date=message.internal_date
            )
            uids.append(uid)
    except errors.ServiceError as exc:
        # MULTIAPPEND is not atomic here: messages stored before the failure stay (docs/imap.md).
        return refusal(exc, target=True)
    finally:
        ctx.uploads.clear()
    if ctx.selected is not None and ctx.selected.name == command.mailbox:
        ctx.selected.stale = True  # RFC 9051 6.3.12: EXISTS for the selected mailbox follows
    return ok(code=responses.code("APPENDUID", f"{uidvalidity} {_uid_list(uids)}"))
