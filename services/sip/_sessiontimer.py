"""Session timers (RFC 4028) for anchored calls: the header rules, no clock.

The B2BUA is a UA on both legs, so it negotiates each leg's interval itself
and is the refresher on both (section 7.1: a UAC may name itself; section 9:
a UAS may take the refresh when the UAC leaves it open). It refreshes every
half interval with UPDATE (or a re-INVITE with the same SDP when the peer does
not allow UPDATE); a refresh that times out or gets 408/481 means the phone is
gone, and the call ends with `disconnected_by=system` (section 10).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.sip.protocol import GrammarError, Request
from services.sip.protocol.message import parse_delta_seconds

#: RFC 4028 section 4: Min-SE may not be set below 90 seconds.
MIN_SE_FLOOR = 90


@dataclass(frozen=True)
class SessionExpires:
    interval: int
    refresher: str | None = None  # "uac" | "uas" | None


def parse_session_expires(text: str) -> SessionExpires:
    """Session-Expires = delta-seconds *(SEMI se-params); se-params = refresher-param / generic-param."""
    head, *params = text.split(";")
    refresher = None
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "refresher":
            refresher = value.strip().lower()
            if refresher not in ("uac", "uas"):
                raise GrammarError("Bad refresher parameter")
    return SessionExpires(parse_delta_seconds(head), refresher)


def requested(request: Request) -> SessionExpires | None:
    """The Session-Expires of a request (compact form x), or None; GrammarError when malformed."""
    value = request.headers.get("Session-Expires") or request.headers.get("x")
    return None if value is None else parse_session_expires(value)


def min_se(request: Request) -> int:
    value = request.headers.get("Min-SE")
    return 0 if value is None else parse_delta_seconds(value)


def too_brief(request: Request, minimum: int) -> bool:
    """Section 8.1: a Session-Expires below what we accept gets 422 with our Min-SE."""
    asked = requested(request)
    return asked is not None and asked.interval < minimum


def interval_for(request: Request, *, default: int, minimum: int) -> int:
    """The interval of a new session: what the caller asked (never below anyone's Min-SE), else ours."""
    asked = requested(request)
    floor = max(minimum, min_se(request))
    return max(asked.interval if asked is not None else default, floor)
