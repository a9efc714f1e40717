"""SEARCH keys for storage, and SORT and THREAD (RFC 5256) computed from stored header fields.

Storage evaluates the search tree in SQL (`storage.rpc.search`); this module
only turns the parsed IMAP keys into that tree. Sequence numbers (and `$`)
become UID sets here, because only the session knows its map. RFC 3501's
RECENT and NEW match nothing (this server never sets \\Recent), OLD matches all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from services.imap._mailbox import SelectedMailbox
from services.imap._store import MessageData, search_key, uid_set
from services.imap.protocol import SearchKey

_FLAG_OPS = frozenset("all seen unseen answered unanswered flagged unflagged deleted undeleted draft undraft".split())
_PASS_THROUGH = frozenset(
    "keyword unkeyword before on since sentbefore senton sentsince larger smaller modseq "
    "from to cc bcc subject body text".split()
)


def storage_criteria(key: SearchKey, mailbox: SelectedMailbox) -> dict[str, Any]:
    """The storage search tree for an IMAP key tree (iterative depth is bounded by the parser)."""
    op = key.op
    if op in _FLAG_OPS:
        return search_key(op)
    if op in ("and", "or", "not"):
        return search_key(op, keys=[storage_criteria(k, mailbox) for k in key.keys])
    if op in ("recent", "new"):
        return search_key("not", keys=[search_key("all")])
    if op == "old":
        return search_key("all")
    if op in ("uid", "seqset"):
        sequence_set = key.value
        uids = mailbox.resolve(sequence_set, uid=op == "uid")  # type: ignore[arg-type]
        if not uids:
            return search_key("not", keys=[search_key("all")])
        return search_key("uid", uids=uid_set(uids))
    if op == "header":
        return search_key("header", field=key.field, value=key.value)
    if op in _PASS_THROUGH:
        value = key.value.isoformat() if isinstance(key.value, date) else key.value
        return search_key(op, value=value)
    raise ValueError(f"search key {op.upper()} is not supported")


# --- SORT (RFC 5256 section 3) ----------------------------------------------------------------

SORT_ITEMS = ("headers", "envelope", "internal_date", "size")


def _first_address(message: MessageData, field: str) -> str:
    addresses = (message.envelope or {}).get(field) or []
    if not addresses:
        return ""
    address = addresses[0]
    return (str(address[2] or "")).lower()  # addr-mailbox (RFC 5256: the local part)


def _sent_date(message: MessageData) -> datetime:
    value = (message.headers or {}).get("sent_date")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    # RFC 5256: without a valid Date, the INTERNALDATE is used.
    return message.internal_date or datetime.fromtimestamp(0, UTC)


def base_subject(message: MessageData) -> str:
    headers = message.headers or {}
    value = headers.get("base_subject")
    if value is None:
        value = simplify_subject(str(headers.get("subject") or ""))
    return str(value)


_SUBJECT_PREFIX = re.compile(r"^\s*((re|fwd?)\s*(\[[^\]]*\])?\s*:\s*|\[[^\]]*\]\s*)", re.IGNORECASE)


def simplify_subject(subject: str) -> str:
    """A rough RFC 5256 section 2.1 base subject, for when storage has none."""
    text = " ".join(subject.split())
    while True:
        stripped = _SUBJECT_PREFIX.sub("", text, count=1).removesuffix("(fwd)").strip()
        if stripped == text:
            return text.lower()
        text = stripped


_SORT_KEYS: dict[str, Callable[[MessageData], Any]] = {
    "ARRIVAL": lambda m: m.internal_date or datetime.fromtimestamp(0, UTC),
    "CC": lambda m: _first_address(m, "cc"),
    "DATE": _sent_date,
    "FROM": lambda m: _first_address(m, "from"),
    "SIZE": lambda m: m.size or 0,
    "SUBJECT": base_subject,
    "TO": lambda m: _first_address(m, "to"),
    "DISPLAYFROM": lambda m: _first_address(m, "from"),
    "DISPLAYTO": lambda m: _first_address(m, "to"),
}


def sort_messages(messages: Sequence[MessageData], criteria: Iterable[tuple[str, bool]]) -> list[int]:
    """UIDs in SORT order; ties end in UID (sequence) order (RFC 5256 section 3)."""
    ordered = sorted(messages, key=lambda m: m.uid)
    for name, reverse in reversed(list(criteria)):
        function = _SORT_KEYS.get(name)
        if function is None:
            raise ValueError(f"unsupported sort key {name}")
        ordered.sort(key=function, reverse=reverse)
    return [m.uid for m in ordered]


# --- THREAD (RFC 5256 section 2) ---------------------------------------------------------------

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def _ids(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    return _MESSAGE_ID.findall(str(value))


def thread_orderedsubject(messages: Sequence[MessageData]) -> list[Any]:
    """ORDEREDSUBJECT: threads of one base subject, each flat, ordered by their first message's date."""
    groups: dict[str, list[MessageData]] = {}
    for message in sorted(messages, key=lambda m: (_sent_date(m), m.uid)):
        groups.setdefault(base_subject(message), []).append(message)
    threads = sorted(groups.values(), key=lambda g: (_sent_date(g[0]), g[0].uid))
    return [_flat(g) for g in threads]


def _flat(group: list[MessageData]) -> Any:
    # RFC 5256 section 2.1: every later message is a child of the first, so they are
    # siblings: "(1 (2)(3))"; a single child is a chain: "(1 2)".
    if len(group) == 1:
        return group[0].uid
    if len(group) == 2:
        return [group[0].uid, group[1].uid]
    return [group[0].uid, *[[m.uid] for m in group[1:]]]


class _Node:
    __slots__ = ("children", "message", "parent")

    def __init__(self) -> None:
        self.message: MessageData | None = None
        self.parent: _Node | None = None
        self.children: list[_Node] = []


def _is_ancestor(node: _Node, candidate: _Node) -> bool:
    current: _Node | None = candidate
    while current is not None:
        if current is node:
            return True
        current = current.parent
    return False


def _link(parent: _Node, child: _Node) -> None:
    if child.parent is not None or _is_ancestor(child, parent):
        return
    child.parent = parent
    parent.children.append(child)


def thread_references(messages: Sequence[MessageData]) -> list[Any]:
    """REFERENCES (RFC 5256 section 2.2, the JWZ algorithm)."""
    table: dict[str, _Node] = {}
    for message in sorted(messages, key=lambda m: m.uid):
        headers = message.headers or {}
        ids = _ids(headers.get("message_id"))
        message_id = ids[0] if ids else f"<uid-{message.uid}@parley.invalid>"
        node = table.get(message_id)
        if node is None or node.message is not None:
            node = _Node()
            table[message_id if message_id not in table else f"<dup-{message.uid}>"] = node
        node.message = message
        references = _ids(headers.get("references")) or _ids(headers.get("in_reply_to"))[:1]
        previous: _Node | None = None
        for ref in references:
            ref_node = table.setdefault(ref, _Node())
            if previous is not None and ref_node.parent is None:
                _link(previous, ref_node)
            previous = ref_node
        if previous is not None and node.parent is None and previous is not node:
            _link(previous, node)
    roots = [n for n in table.values() if n.parent is None]
    # Prune dummies (RFC 5256 2.2 step 4): a dummy without children goes, one with a single
    # child (or any at the top level) is replaced by its children.
    trees = [t for root in roots for t in _prune(root, top=True)]
    return [_render(t) for t in sorted(_group_by_subject(trees), key=_tree_date)]


def _first_message(node: _Node) -> MessageData | None:
    if node.message is not None:
        return node.message
    return _first_message(min(node.children, key=_tree_date)) if node.children else None


def _is_reply(message: MessageData) -> bool:
    subject = str((message.headers or {}).get("subject") or "")
    return simplify_subject(subject) != " ".join(subject.split()).lower()


def _group_by_subject(trees: list[_Node]) -> list[_Node]:
    """RFC 5256 section 2.2 step 5: threads whose roots share a base subject are merged."""
    table: dict[str, _Node] = {}
    for tree in trees:
        message = _first_message(tree)
        subject = base_subject(message) if message is not None else ""
        if not subject:
            continue
        known = table.get(subject)
        if (
            known is None
            or (known.message is not None and tree.message is None)
            or (known.message is not None and tree.message is not None
                and _is_reply(known.message) and not _is_reply(tree.message))
        ):  # fmt: skip
            table[subject] = tree
    out: list[_Node] = []
    for tree in trees:
        if tree.parent is not None:
            continue  # already merged into another thread
        message = _first_message(tree)
        subject = base_subject(message) if message is not None else ""
        known = table.get(subject) if subject else None
        if known is None or known is tree:
            if tree not in out:
                out.append(tree)
            continue
        if known.message is None and tree.message is None:
            for child in tree.children:  # both dummies: one holds the other's children
                child.parent = known
                known.children.append(child)
        elif known.message is None or (
            tree.message is not None and known.message is not None
            and not _is_reply(known.message) and _is_reply(tree.message)
        ):  # fmt: skip
            tree.parent = known
            known.children.append(tree)
        else:  # neither is the other's reply: siblings under a new dummy
            dummy = _Node()
            position = out.index(known) if known in out else None
            for node in (known, tree):
                node.parent = dummy
                dummy.children.append(node)
            table[subject] = dummy
            if position is not None:
                out[position] = dummy
            else:
                out.append(dummy)
    return out


def _prune(node: _Node, *, top: bool) -> list[_Node]:
    kids = [k for child in node.children for k in _prune(child, top=False)]
    node.children = kids
    for kid in kids:
        kid.parent = node
    if node.message is not None:
        return [node]
    if not kids:
        return []
    if len(kids) == 1 or not top:
        for kid in kids:
            kid.parent = None
        return kids
    return [node]


def _tree_date(node: _Node) -> tuple[datetime, int]:
    if node.message is not None:
        return _sent_date(node.message), node.message.uid
    return min(_tree_date(child) for child in node.children)


def _render(node: _Node) -> Any:
    """A thread as nested lists: a chain is flat, siblings become sub-lists (RFC 5256 section 4)."""
    node.children.sort(key=_tree_date)
    head: list[Any] = [] if node.message is None else [node.message.uid]
    current = node
    while len(current.children) == 1 and current.children[0].message is not None:
        current = current.children[0]
        head.append(current.message.uid)  # type: ignore[union-attr]
        current.children.sort(key=_tree_date)
    branches = [_render(child) for child in current.children]
    if len(head) == 1 and not branches:
        return head[0]
    return [*head, *[b if isinstance(b, list) else [b] for b in branches]]
