"""Watcher authorisation for the presence package (RFC 3856 section 6.6), pure.

The presentity's consent lives in its directory account settings:
`{"presence": {"allow": [...], "block": [...]}}`, where an entry is an
address (`bob@example.com`) or a whole domain (`@example.com`). In order:
the presentity itself is always allowed; a blocked watcher is rejected; an
allowed one is accepted; a watcher of the presentity's own domain is
accepted; anyone else waits (pending) until the presentity allows or blocks
them.
"""

from __future__ import annotations

from typing import Any, Literal

Decision = Literal["active", "pending", "rejected"]


def decide(watcher: str, presentity: str, settings: dict[str, Any]) -> Decision:
    watcher, presentity = watcher.lower(), presentity.lower()
    if watcher == presentity:
        return "active"
    rules = settings.get("presence") if isinstance(settings, dict) else None
    rules = rules if isinstance(rules, dict) else {}
    if _listed(watcher, rules.get("block")):
        return "rejected"
    if _listed(watcher, rules.get("allow")):
        return "active"
    if _domain(watcher) == _domain(presentity):
        return "active"
    return "pending"


def _listed(watcher: str, entries: Any) -> bool:
    if not isinstance(entries, list):
        return False
    for entry in entries:
        if not isinstance(entry, str):
            continue
        entry = entry.strip().lower().removeprefix("sip:").removeprefix("sips:")
        if entry == watcher or (entry.startswith("@") and entry[1:] == _domain(watcher)):
            return True
    return False


def _domain(address: str) -> str:
    return address.rpartition("@")[2]
