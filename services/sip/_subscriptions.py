"""Subscriptions of RFC 6665 as the notifier keeps them (pure: the caller passes the time).

A subscription is a dialog (the SUBSCRIBE's Call-ID, our To tag, the
subscriber's From tag, its Contact and Record-Route) plus the package, the
watcher, the resource and the state: pending (waiting for the presentity's
consent), active, or terminated. `SubscriptionTable` indexes them by dialog
(for refreshes and NOTIFY responses) and by resource (for state changes),
and says which have run out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

PACKAGES = ("presence", "message-summary", "reg")


class SubState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class TooBrief:
    """423 Interval Too Brief (RFC 6665 section 4.2.1.1) with this Min-Expires."""

    min_expires: int


def grant_expires(requested: int | None, *, default: int, minimum: int, maximum: int) -> int | TooBrief:
    """The duration we grant: 0 stays 0 (unsubscribe or fetch), below the minimum is refused, above is cut."""
    if requested is None:
        return default
    if requested == 0:
        return 0
    if requested < minimum:
        return TooBrief(minimum)
    return min(requested, maximum)


@dataclass
class Dialog:
    call_id: str
    local_tag: str  # the To tag of our 2xx
    remote_tag: str  # the subscriber's From tag
    local_uri: str  # the resource, as in the SUBSCRIBE's To
    remote_uri: str  # the subscriber, as in its From
    remote_target: str  # its Contact URI
    route_set: list[str] = field(default_factory=list)  # its Record-Route, in order (RFC 3261 12.1.1)
    local_cseq: int = 0
    remote_cseq: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    def next_cseq(self) -> int:
        self.local_cseq += 1
        return self.local_cseq


@dataclass
class Subscription:
    package: str
    event_id: str | None
    watcher: str  # the authenticated account that subscribed
    resource: str  # the account watched
    dialog: Dialog
    peer: str  # where the SUBSCRIBE came from (Peer.text()), for connection reuse
    expires_at: float
    state: SubState = SubState.PENDING
    reason: str | None = None  # once terminated: timeout, rejected, noresource, deactivated
    last_body: bytes | None = None  # what the last NOTIFY said, so an unchanged state is not sent again
    was_active: bool = False  # the watcher was authorised before termination: its final NOTIFY may carry state
    version: int = 0  # the reginfo version of the next NOTIFY (RFC 3680 section 5.4)
    in_flight: bool = False  # a NOTIFY of this dialog awaits its final response
    queued: bool = False  # another NOTIFY is due once it has one (one at a time per dialog)

    def refresh(self, granted: int, now: float) -> None:
        self.expires_at = now + granted

    def expired(self, now: float) -> bool:
        return self.state is not SubState.TERMINATED and now >= self.expires_at

    def activate(self) -> bool:
        """Pending -> active once the presentity consents; True when that changed anything."""
        if self.state is SubState.PENDING:
            self.state = SubState.ACTIVE
            return True
        return False

    def terminate(self, reason: str | None) -> None:
        """End it; `reason` None when the subscriber asked (plain `terminated`)."""
        if self.state is not SubState.TERMINATED:
            self.was_active = self.state is SubState.ACTIVE
        self.state = SubState.TERMINATED
        self.reason = reason

    @property
    def authorised(self) -> bool:
        """Whether a NOTIFY may carry the resource's state."""
        if self.state is SubState.TERMINATED:
            return self.was_active and self.reason != "rejected"  # a rejected watcher learns nothing more
        return self.state is SubState.ACTIVE

    def state_header(self, now: float) -> str:
        """Subscription-State (RFC 6665 section 8.2.3) as of `now`."""
        if self.state is SubState.TERMINATED:
            return f"terminated;reason={self.reason}" if self.reason else "terminated"
        return f"{self.state.value};expires={max(0, int(self.expires_at - now + 0.5))}"


class SubscriptionTable:
    """This replica's subscriptions: by dialog, and by (package, resource)."""

    def __init__(self, *, limit: int = 100_000) -> None:
        self.limit = limit
        self._by_dialog: dict[tuple[str, str, str], Subscription] = {}
        self._by_resource: dict[tuple[str, str], dict[tuple[str, str, str], Subscription]] = {}

    def __len__(self) -> int:
        return len(self._by_dialog)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._by_dialog.values()))

    def full(self) -> bool:
        return len(self._by_dialog) >= self.limit

    def add(self, sub: Subscription) -> None:
        self._by_dialog[sub.dialog.key] = sub
        self._by_resource.setdefault((sub.package, sub.resource), {})[sub.dialog.key] = sub

    def get(self, call_id: str, local_tag: str, remote_tag: str) -> Subscription | None:
        return self._by_dialog.get((call_id, local_tag, remote_tag))

    def remove(self, sub: Subscription) -> None:
        self._by_dialog.pop(sub.dialog.key, None)
        watchers = self._by_resource.get((sub.package, sub.resource))
        if watchers is not None:
            watchers.pop(sub.dialog.key, None)
            if not watchers:
                del self._by_resource[(sub.package, sub.resource)]

    def of(self, package: str, resource: str) -> list[Subscription]:
        return list(self._by_resource.get((package, resource), {}).values())

    def resources(self, package: str) -> set[str]:
        return {resource for (p, resource) in self._by_resource if p == package}

    def expired(self, now: float) -> list[Subscription]:
        return [s for s in self._by_dialog.values() if s.expired(now)]
