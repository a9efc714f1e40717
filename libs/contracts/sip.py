"""The sip service's public surface: registrations, call detail records, instant messages.

- Registrations (RFC 3261 section 10) live in the JetStream KV bucket
  `LOCATION_BUCKET`, one entry per address-of-record keyed by
  `location_key(account)`; its value is a `LocationRecord`. Every sip replica
  reads and writes it (optimistic concurrency on the entry's revision), so any
  replica routes to any user: the SIP farm. Other services may read it (who
  is reachable by phone) but never write it.
- Call detail records go to the JetStream stream `CDR_STREAM` on the subjects
  `CALL_ATTEMPTED`, `CALL_ANSWERED` and `CALL_ENDED`; billing attaches its own
  durable consumers.
- Every instant message the proxy handles is published on
  `im_deliver_subject(account)` (core NATS, `InstantMessage`) so other
  protocols (XMPP, web) can deliver it too. A message for an account with no
  registered contact is kept in the stream `IM_PENDING_STREAM` on
  `im_pending_subject(account)` until the account next registers.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from libs.bus.subjects import encode_token
from libs.contracts.base import Event, Message
from libs.contracts.media import LegStats

SERVICE_NAME = "sip"

LOCATION_BUCKET = "sip_locations"

CDR_STREAM = "CDR"
CALL_ATTEMPTED = "sip.call.attempted"
CALL_ANSWERED = "sip.call.answered"
CALL_ENDED = "sip.call.ended"
CDR_SUBJECTS = "sip.call.>"

IM_PENDING_STREAM = "SIP_IM_PENDING"
IM_PENDING_SUBJECTS = "sip.im_pending.>"
IM_DELIVER_PREFIX = "im.message.deliver"


def location_key(account: str) -> str:
    return encode_token(account)


def im_pending_subject(account: str) -> str:
    return f"sip.im_pending.{encode_token(account)}"


def im_deliver_subject(account: str) -> str:
    return f"{IM_DELIVER_PREFIX}.{encode_token(account)}"


# --- registrations ------------------------------------------------------------------


class Binding(Message):
    """One registered contact of an address-of-record (RFC 3261 section 10.3)."""

    contact: str = Field(description="the Contact URI as registered")
    expires_at: float = Field(description="UNIX time when the binding lapses")
    q: float = Field(1.0, description="preference, 0.0-1.0 (section 20.10)")
    call_id: str
    cseq: int
    source: str = Field("", description="where the REGISTER came from: transport:host:port (RFC 3581 received/rport)")
    path: list[str] = Field(default_factory=list, description="Path header values (RFC 3327), in order")
    node: str = Field("", description="the sip replica that accepted the registration")
    instance: str | None = Field(None, description="+sip.instance (RFC 5626), if given")
    user_agent: str = ""
    updated_at: float = 0.0


class LocationRecord(Message):
    """The value of a `sip_locations` entry: every binding of one account."""

    aor: str = Field(description="the account, canonical address")
    bindings: list[Binding] = Field(default_factory=list)


# --- call detail records -----------------------------------------------------------


class CallEvent(Event):
    call_id: str
    from_uri: str = Field(description="From URI of the INVITE")
    to_uri: str = Field(description="To URI of the INVITE")
    caller: str | None = Field(None, description="the authenticated local account that called, if any")
    callee: str | None = Field(None, description="the local account that was called, if any")
    started_at: datetime
    node: str = ""
    leg: str = Field(
        "a", description="which leg of the call: 'a' (the caller's), or 'b' for the far leg of a B2BUA call"
    )


class CallAttempted(CallEvent):
    """An INVITE that starts a call reached the proxy."""

    SUBJECT: ClassVar[str] = CALL_ATTEMPTED


class CallAnswered(CallEvent):
    """A 2xx answered the call."""

    SUBJECT: ClassVar[str] = CALL_ANSWERED

    answered_at: datetime
    status: int = 200


class CallEnded(CallEvent):
    """The call ended: by BYE after an answer, or by a final error response (status) before one."""

    SUBJECT: ClassVar[str] = CALL_ENDED

    answered_at: datetime | None = None
    ended_at: datetime
    status: int = Field(description="the final response code of the INVITE (200 for an answered call)")
    ended_by: str = Field("", description="bye, cancel, error, timeout")
    disconnected_by: str = Field("", description="caller, callee, or system (timeout, error, shutdown)")
    media: list[LegStats] = Field(default_factory=list, description="relay statistics when media was anchored")


# --- instant messages ----------------------------------------------------------------


class InstantMessage(Event):
    """An IM for a local account (RFC 3428 MESSAGE), in whatever protocol it arrived."""

    SUBJECT: ClassVar[str] = IM_DELIVER_PREFIX

    account: str = Field(description="the recipient account")
    sender: str = Field(description="From URI")
    recipient: str = Field(description="To URI")
    content_type: str = "text/plain"
    body: str = Field(max_length=65536, description="the message body (UTF-8 text, or base64 if not text)")
    body_encoding: str = Field("utf-8", description="utf-8 or base64")
    call_id: str = ""
    protocol: str = "sip"

    def subject(self) -> str:
        return im_deliver_subject(self.account)
