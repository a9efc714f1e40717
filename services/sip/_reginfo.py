"""reginfo documents of the reg event package (RFC 3680), pure.

We always send full state: the address-of-record's registration (`active`
while it has a binding, `init` without one) and each live contact, with a
stable id per contact URI, its remaining time, q, Call-ID and CSeq.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

from libs.contracts.sip import Binding

REGINFO_NS = "urn:ietf:params:xml:ns:reginfo"
CONTENT_TYPE = "application/reginfo+xml"
_R = f"{{{REGINFO_NS}}}"

ET.register_namespace("", REGINFO_NS)


def document(aor: str, bindings: list[Binding], *, version: int, now: float) -> bytes:
    root = ET.Element(f"{_R}reginfo", {"version": str(version), "state": "full"})
    registration = ET.SubElement(root, f"{_R}registration", {
        "aor": aor, "id": _id(aor.lower()), "state": "active" if bindings else "init",
    })  # fmt: skip
    for binding in sorted(bindings, key=lambda b: b.contact):
        contact = ET.SubElement(registration, f"{_R}contact", {
            "id": _id(binding.contact), "state": "active", "event": "registered",
            "expires": str(max(0, int(binding.expires_at - now))), "q": f"{binding.q:g}",
            "callid": binding.call_id, "cseq": str(binding.cseq),
        })  # fmt: skip
        ET.SubElement(contact, f"{_R}uri").text = binding.contact
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def _id(text: str) -> str:
    return "r" + hashlib.sha256(text.encode()).hexdigest()[:12]
