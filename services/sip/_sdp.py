"""What the B2BUA reads in SDP (RFC 4566): whether a body is an offer/answer, and its direction.

The relay rewrites addresses and ports; signalling only needs to know that a
body is SDP, that it is text it can pass on, and whether a re-offer puts the
call on hold (RFC 6337 section 5.3: a=sendonly or a=inactive, session or
media level; c=0.0.0.0 from RFC 2543 phones too).
"""

from __future__ import annotations

from services.sip.protocol import Message

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


def sdp_of(message: Message) -> str | None:
    """The SDP body as text, or None when there is none (or it is not application/sdp)."""
    if not message.body or message.content_type != "application/sdp":
        return None
    try:
        return message.body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def direction(sdp: str) -> str:
    """The direction of the first audio stream (media level wins over session level)."""
    session, media, in_audio, seen_audio = "sendrecv", None, False, False
    held_address = False
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if seen_audio:
                break
            in_audio = line.startswith("m=audio")
            seen_audio = in_audio
        elif line.startswith("a=") and line[2:] in DIRECTIONS:
            if in_audio:
                media = line[2:]
            elif not seen_audio:
                session = line[2:]
        elif line.startswith("c=") and line.split()[-1] == "0.0.0.0" and (in_audio or not seen_audio):
            held_address = True
    found = media or session
    if held_address and found == "sendrecv":
        return "sendonly"  # RFC 2543 hold
    return found


def on_hold(sdp: str) -> bool:
    return direction(sdp) in ("sendonly", "inactive")
