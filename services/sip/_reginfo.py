"""reginfo documents of the reg event package (RFC 3680), pure.

We always send full state: the address-of-record's registration (`active`
while it has a binding, `init` without one) and each live contact, with a
stable id per contact URI, its remaining time, q, Call-ID and CSeq. Written
as text (every value escaped) rather than with ElementTree, whose default
namespace is process-wide and belongs to PIDF.
"""

from __future__ import annotations

import hashlib
from xml.sax.saxutils import escape, quoteattr

from libs.contracts.sip import Binding

REGINFO_NS = "urn:ietf:params:xml:ns:reginfo"
CONTENT_TYPE = "application/reginfo+xml"


def document(aor: str, bindings: list[Binding], *, version: int, now: float) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<reginfo xmlns="{REGINFO_NS}" version="{int(version)}" state="full">',
        f"  <registration aor={quoteattr(aor)} id={quoteattr(_id(aor.lower()))}"
        f' state="{"active" if bindings else "init"}">',
    ]
    for b in sorted(bindings, key=lambda b: b.contact):
        lines += [
            f'    <contact id={quoteattr(_id(b.contact))} state="active" event="registered"'
            f' expires="{max(0, int(b.expires_at - now))}" q="{b.q:g}" callid={quoteattr(b.call_id)}'
            f' cseq="{int(b.cseq)}">',
            f"      <uri>{escape(b.contact)}</uri>",
            "    </contact>",
        ]
    lines += ["  </registration>", "</reginfo>", ""]
    return "\n".join(lines).encode()


def _id(text: str) -> str:
    return "r" + hashlib.sha256(text.encode()).hexdigest()[:12]
