"""Address resolution: who receives mail (or calls, or messages) sent to an address.

Resolution follows aliases, forwarders and groups depth-first. A visited set
stops loops (a -> b -> a) and a depth limit stops runaway nesting; both end
that branch quietly, like a mail server that drops a looping alias rather
than bouncing the whole message. Disabled accounts receive nothing.

Sub-addressing (RFC 5233 style): `alice+tag@d` reaches `alice@d` unless an
entry is literally named `alice+tag`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.contracts.directory import ResolveReply, ResolveStatus
from services.directory._addresses import Address, InvalidAddress, parse_address
from services.directory._reads import DirectoryReads, EntryRow
from services.directory.models import AddressKind


@dataclass
class _Expansion:
    max_depth: int
    accounts: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def add_account(self, address: str) -> None:
        if address not in self.accounts:
            self.accounts.append(address)

    def add_remote(self, address: str) -> None:
        if address not in self.remote:
            self.remote.append(address)


async def resolve(reads: DirectoryReads, text: str, *, max_depth: int = 10) -> ResolveReply:
    try:
        address = parse_address(text)
    except InvalidAddress as exc:
        return ResolveReply(status=ResolveStatus.INVALID, address=text[:320], reason=str(exc))
    domain, entry = await reads.entry(address)
    if domain is None:
        return ResolveReply(status=ResolveStatus.REMOTE, address=address.text)
    if not domain.enabled:
        return ResolveReply(status=ResolveStatus.UNKNOWN, address=address.text, reason="domain disabled")
    if entry is None:
        return ResolveReply(status=ResolveStatus.UNKNOWN, address=address.text, reason="no such address")
    expansion = _Expansion(max_depth=max_depth)
    await _expand_entry(reads, entry, expansion, depth=0)
    if not expansion.accounts and not expansion.remote:
        reason = "; ".join(expansion.notes) or "nobody receives at this address"
        return ResolveReply(status=ResolveStatus.UNKNOWN, address=entry.address, reason=reason)
    return ResolveReply(
        status=ResolveStatus.LOCAL,
        address=entry.address,
        accounts=expansion.accounts,
        remote=expansion.remote,
        reason="; ".join(expansion.notes),
    )


async def _expand_targets(reads: DirectoryReads, targets: list[str], expansion: _Expansion, *, depth: int) -> None:
    """Expand what an entry points at, looking all of them up at once (a group is one query, not one per member)."""
    addresses: list[Address] = []
    for text in targets:
        try:
            addresses.append(parse_address(text))
        except InvalidAddress:
            expansion.notes.append(f"skipped invalid target {text[:80]!r}")
    for address, (domain, entry) in zip(addresses, await reads.entries(addresses), strict=True):
        if domain is None:
            expansion.add_remote(address.text)
        elif entry is None:
            expansion.notes.append(f"no such address {address.text}")
        else:
            await _expand_entry(reads, entry, expansion, depth=depth)


async def _expand_entry(reads: DirectoryReads, entry: EntryRow, expansion: _Expansion, *, depth: int) -> None:
    name = entry.address
    if name in expansion.seen:
        expansion.notes.append(f"loop at {name}")
        return
    if depth > expansion.max_depth:
        expansion.notes.append(f"nesting deeper than {expansion.max_depth} at {name}")
        return
    expansion.seen.add(name)
    if entry.kind == AddressKind.ACCOUNT:
        if entry.account_enabled:
            expansion.add_account(name)
        return
    targets = _targets(entry)
    if targets:
        await _expand_targets(reads, targets, expansion, depth=depth + 1)


def _targets(entry: EntryRow) -> list[str]:
    """The addresses an alias, forwarder or group points at."""
    if entry.kind == AddressKind.ALIAS:
        return [entry.alias_target] if entry.alias_target else []
    if entry.kind == AddressKind.FORWARDER:
        return list(entry.forwarder_targets or [])
    if entry.kind == AddressKind.GROUP:
        return list(entry.group_members or ())
    return []
