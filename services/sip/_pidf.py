"""PIDF documents (RFC 3863): check what a publisher sent, compose publications, build our own (pure).

Incoming bodies are untrusted: they are parsed with defusedxml with DTDs
forbidden (no entity expansion, no external fetches), and must be a PIDF
`presence` root whose tuples each carry an id and a status. Composition
(RFC 3903 leaves the policy to the server) is a union: the tuples, person
and device elements (RPID, RFC 4479/4480) of every live publication, in the
order they were published, a later element with the same id replacing an
earlier one, under one `presence` root whose entity is the presentity.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

PIDF_NS = "urn:ietf:params:xml:ns:pidf"
CONTENT_TYPE = "application/pidf+xml"
_P = f"{{{PIDF_NS}}}"
XML_NS = "http://www.w3.org/XML/1998/namespace"

ET.register_namespace("", PIDF_NS)  # the only document ElementTree writes here; reginfo is written by hand
ET.register_namespace("dm", "urn:ietf:params:xml:ns:pidf:data-model")
ET.register_namespace("rpid", "urn:ietf:params:xml:ns:pidf:rpid")


class PidfError(ValueError):
    """The body is not a PIDF document we accept (400 to a PUBLISH)."""


@dataclass(frozen=True)
class Summary:
    basic: str  # "open" or "closed"
    note: str


def parse(body: bytes | str) -> ET.Element:
    """The root of a PIDF document, checked; PidfError when it is not one."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise PidfError(f"not well-formed XML: {exc}") from None
    if root.tag != f"{_P}presence":
        raise PidfError("the root is not a PIDF presence element")
    if not root.get("entity"):
        raise PidfError("presence without an entity")
    for element in root.findall(f"{_P}tuple"):
        if not element.get("id"):
            raise PidfError("a tuple without an id")
        status = element.find(f"{_P}status")
        if status is None:
            raise PidfError("a tuple without a status")
        basic = status.find(f"{_P}basic")
        if basic is not None and (basic.text or "").strip() not in ("open", "closed"):
            raise PidfError("basic status other than open or closed")
    return root


def compose(entity: str, documents: list[str]) -> str:
    """One document for `entity` out of the publications' documents, oldest first."""
    root = ET.Element(f"{_P}presence", {"entity": entity})
    keyed: dict[tuple[str, str], ET.Element] = {}
    notes: dict[str, ET.Element] = {}
    others: list[ET.Element] = []
    for text in documents:
        for child in parse(text):
            if child.tag == f"{_P}note":
                notes.setdefault((child.text or "").strip(), child)
            elif child.get("id"):
                keyed.pop((child.tag, child.get("id") or ""), None)  # re-insert: a newer one goes last
                keyed[(child.tag, child.get("id") or "")] = child
            else:
                others.append(child)
    root.extend(keyed.values())
    root.extend(notes.values())
    root.extend(others)
    return _serialize(root)


def basic_document(entity: str, *, open_: bool, tuple_id: str = "registration", note: str = "") -> str:
    """A document with one tuple: what we say of a presentity that published nothing.

    No timestamp: the same state must give the same document, so refreshes of a
    registration do not look like changes to the watchers."""
    root = ET.Element(f"{_P}presence", {"entity": entity})
    element = ET.SubElement(root, f"{_P}tuple", {"id": tuple_id})
    status = ET.SubElement(element, f"{_P}status")
    ET.SubElement(status, f"{_P}basic").text = "open" if open_ else "closed"
    if note:
        ET.SubElement(element, f"{_P}note").text = note
    return _serialize(root)


def summary(document: str) -> Summary:
    """Basic open if any tuple is open; the first note of the presence, else of a tuple."""
    root = parse(document)
    basics = [(b.text or "").strip() for b in root.iterfind(f"{_P}tuple/{_P}status/{_P}basic")]
    notes = [(n.text or "").strip() for n in root.findall(f"{_P}note")]
    notes += [(n.text or "").strip() for n in root.iterfind(f"{_P}tuple/{_P}note")]
    return Summary("open" if "open" in basics else "closed", next((n for n in notes if n), ""))


def _serialize(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode", xml_declaration=False).join(
        ('<?xml version="1.0" encoding="UTF-8"?>\n', "\n")
    )
