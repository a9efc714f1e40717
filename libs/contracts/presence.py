"""Presence's public surface: the state of a presentity, shared by every protocol.

- The state an account publishes (SIP PUBLISH, RFC 3903; later XMPP and the
  web) lives in the JetStream KV bucket `PRESENCE_BUCKET`, one
  `PresenceRecord` per account keyed by `presence_key(account)`: every
  publication (its entity tag, expiry and PIDF document, RFC 3863) of every
  device of the account. The sip replicas read and write it with optimistic
  concurrency on the entry's revision, so any replica sees any presentity.
- Every change of an account's composed state is published (core NATS) on
  `state_changed_subject(account)` as a `PresenceState`: the composed PIDF
  document, its basic open/closed and first note. Each sip replica listens
  to notify the watchers whose subscriptions it holds; other protocols may
  listen too.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from libs.bus.subjects import encode_token
from libs.contracts.base import Event, Message

PRESENCE_BUCKET = "presence"
STATE_CHANGED_PREFIX = "presence.state.changed"
STATE_CHANGED_ALL = f"{STATE_CHANGED_PREFIX}.*"

Basic = Literal["open", "closed"]


def presence_key(account: str) -> str:
    return encode_token(account)


def state_changed_subject(account: str) -> str:
    return f"{STATE_CHANGED_PREFIX}.{encode_token(account)}"


class PresenceState(Event):
    """An account's composed presence after a change (a publication made, refreshed away, expired or removed)."""

    SUBJECT: ClassVar[str] = STATE_CHANGED_PREFIX

    account: str = Field(description="the presentity: an account's canonical address")
    basic: Basic = Field(description="open if any tuple of the composed document is open")
    note: str = Field("", description="the first note of the composed document, if any")
    pidf: str = Field(description="the composed PIDF document (application/pidf+xml, RFC 3863)")
    source: str = Field("sip", description="the protocol whose publication caused the change: sip, xmpp, web")

    def subject(self) -> str:
        return state_changed_subject(self.account)


class Publication(Message):
    """One event state publication (RFC 3903): one device's view of the presentity."""

    etag: str = Field(description="the entity tag the publisher refreshes, modifies or removes it by")
    expires_at: float = Field(description="UNIX time when the publication lapses")
    pidf: str = Field(description="the published PIDF document as received (already checked to parse)")
    source: str = "sip"
    updated_at: float = 0.0


class PresenceRecord(Message):
    """The value of a `presence` entry: every live publication of one account."""

    account: str
    publications: list[Publication] = Field(default_factory=list)
