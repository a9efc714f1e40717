"""Event state publication (RFC 3903 section 6) applied to a presentity's publications, pure.

- No SIP-If-Match: an initial publication; it must carry a PIDF body.
- SIP-If-Match with a body: modify that publication; without a body:
  refresh it (Expires > 0) or remove it (Expires 0).
- An unknown or expired entity tag: 412 Conditional Request Failed.
Every accepted request gets a fresh entity tag (section 6, step 8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from libs.contracts.presence import Publication
from services.sip import _pidf as pidf


@dataclass(frozen=True)
class PublishRefused:
    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PublishDone:
    publications: list[Publication]
    etag: str | None  # None after a removal
    expires: int
    changed: bool  # the composed state may differ (new, modified or removed document)


def live(publications: list[Publication], now: float) -> list[Publication]:
    return [p for p in publications if p.expires_at > now]


def apply_publish(publications: list[Publication], *, if_match: str | None, body: bytes, content_type: str | None,
                  expires: int, now: float, new_etag: Callable[[], str]) -> PublishDone | PublishRefused:  # fmt: skip
    current = live(publications, now)
    document: str | None = None
    if body:
        if (content_type or "").split(";")[0].strip().lower() != pidf.CONTENT_TYPE:
            return PublishRefused(415, None, (("Accept", pidf.CONTENT_TYPE),))
        try:
            pidf.parse(body)
            document = body.decode("utf-8")
        except (pidf.PidfError, UnicodeDecodeError) as exc:
            return PublishRefused(400, f"Bad Request (invalid PIDF: {str(exc)[:80]})")
    if if_match is None:
        if document is None:
            return PublishRefused(400, "Bad Request (an initial PUBLISH needs a body)")
        if expires == 0:
            return PublishDone(current, None, 0, False)
        fresh = Publication(etag=new_etag(), expires_at=now + expires, pidf=document, updated_at=now)
        return PublishDone([*current, fresh], fresh.etag, expires, True)
    found = next((p for p in current if p.etag == if_match), None)
    if found is None:
        return PublishRefused(412, "Conditional Request Failed")
    others = [p for p in current if p is not found]
    if expires == 0:
        return PublishDone(others, None, 0, True)
    changed = document is not None and document != found.pidf
    updated = found.model_copy(update={"etag": new_etag(), "expires_at": now + expires,
                                       "pidf": document if document is not None else found.pidf,
                                       "updated_at": now if changed else found.updated_at})  # fmt: skip
    # A modified publication moves last: its tuples win over older ones with the same id.
    ordered = [*others, updated] if changed else [updated if p is found else p for p in current]
    return PublishDone(ordered, updated.etag, expires, changed)
