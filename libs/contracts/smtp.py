"""The SMTP service's public surface: the outbound queue (`MAIL_OUTBOUND`).

A message for recipients outside our domains is written once to the blob
store (its trace headers in front) and queued as one `OutboundMessage` on
the JetStream stream `MAIL_OUTBOUND`; the body never rides the bus, the
message carries its digest. The SMTP service's delivery workers (a durable
pull consumer shared by every replica) take it from there, retry, and bounce.

DSN parameters travel with the message (RFC 3461): RET and ENVID of MAIL,
NOTIFY and ORCPT of each RCPT, so the delivery workers can pass them on to
the next hop and decide which delivery status notifications to send.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from libs.contracts.base import Message

SERVICE_NAME = "smtp"

OUTBOUND_STREAM = "MAIL_OUTBOUND"
OUTBOUND_SUBJECT = "smtp.outbound.queued"
# The durable pull consumer every smtp replica shares: each queued message goes
# to one of them, and is removed from the stream once acknowledged (work queue).
OUTBOUND_CONSUMER = "smtp-delivery"


class Notify(StrEnum):
    """NOTIFY= of RCPT (RFC 3461 section 4.1)."""

    NEVER = "NEVER"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DELAY = "DELAY"


class Return(StrEnum):
    """RET= of MAIL (RFC 3461 section 4.3): the whole message or its headers in a bounce."""

    FULL = "FULL"
    HEADERS = "HDRS"


class OutboundRecipient(Message):
    address: str = Field(min_length=3, max_length=320)
    notify: list[Notify] | None = Field(None, description="NOTIFY of RCPT; None: not given (failure and delay)")
    orcpt: str | None = Field(None, max_length=500, description="ORCPT of RCPT as addr-type;address, decoded")


class OutboundMessage(Message):
    """One message waiting for remote delivery; published on `OUTBOUND_SUBJECT`."""

    SUBJECT: ClassVar[str] = OUTBOUND_SUBJECT

    message_id: str = Field(min_length=1, max_length=200, description="our queue id, also in logs and DSNs")
    blob: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    reverse_path: str = Field("", max_length=320, description="MAIL FROM; empty for the null path <>")
    recipients: list[OutboundRecipient] = Field(min_length=1, max_length=10_000)
    ret: Return | None = None
    envid: str | None = Field(None, max_length=100)
    smtputf8: bool = False
    eight_bit: bool = Field(False, description="BODY=8BITMIME was given")
    account: str | None = Field(None, max_length=320, description="the authenticated submitter, if any")
    arrived_at: datetime
    attempts: int = Field(0, ge=0, description="delivery attempts made before this copy was queued")
    not_before: datetime | None = Field(None, description="a retry: not to be tried before this time")
    delay_notified: bool = Field(False, description="a delay DSN was already sent (NOTIFY=DELAY)")
    blob_held: bool = Field(False, description="a storage blob reference is held until the message is done")
