"""PIDF (RFC 3863): what a PUBLISH may carry, composition of several publications, our own documents."""

from __future__ import annotations

import pytest

from services.sip import _pidf as pidf


def doc(entity: str, *tuples: tuple[str, str, str], note: str = "", extra: str = "") -> str:
    body = "".join(
        f'<tuple id="{tid}"><status><basic>{basic}</basic></status>'
        + (f"<note>{tnote}</note>" if tnote else "")
        + "</tuple>"
        for tid, basic, tnote in tuples
    )
    top = f"<note>{note}</note>" if note else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" '
        f'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="{entity}">{body}{top}{extra}</presence>'
    )


def test_a_valid_document_parses() -> None:
    root = pidf.parse(doc("pres:alice@example.com", ("t1", "open", "")).encode())
    assert root.get("entity") == "pres:alice@example.com"


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        b"<presence entity='x'/>",  # no PIDF namespace
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf"/>',  # no entity
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="e"><tuple><status/></tuple></presence>',
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="e"><tuple id="a"/></presence>',
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="e"><tuple id="a"><status>'
        b"<basic>maybe</basic></status></tuple></presence>",
        b"<presence",  # truncated
    ],
)
def test_malformed_documents_are_refused(body: bytes) -> None:
    with pytest.raises(pidf.PidfError):
        pidf.parse(body)


def test_entity_expansion_and_external_entities_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="e"><note>&b;</note></presence>'
    )
    with pytest.raises(pidf.PidfError):
        pidf.parse(bomb)
    external = (
        b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="e"><note>&x;</note></presence>'
    )
    with pytest.raises(pidf.PidfError):
        pidf.parse(external)


def test_composition_unions_tuples_and_a_later_tuple_with_the_same_id_wins() -> None:
    phone = doc("sip:alice@example.com", ("phone", "closed", "on the phone"))
    laptop = doc("sip:alice@laptop", ("laptop", "open", "at my desk"), note="back at 3")
    phone_again = doc("sip:alice@example.com", ("phone", "open", ""))
    composed = pidf.compose("sip:alice@example.com", [phone, laptop, phone_again])
    root = pidf.parse(composed)
    assert root.get("entity") == "sip:alice@example.com"
    ids = [t.get("id") for t in root.findall(f"{{{pidf.PIDF_NS}}}tuple")]
    assert ids == ["laptop", "phone"]
    summary = pidf.summary(composed)
    assert summary.basic == "open"
    assert summary.note == "back at 3"


def test_composition_keeps_person_elements_of_other_namespaces() -> None:
    person = '<dm:person id="p1"><dm:note>in a meeting</dm:note></dm:person>'
    composed = pidf.compose("sip:a@x", [doc("sip:a@x", ("t", "closed", ""), extra=person)])
    assert "in a meeting" in composed
    assert pidf.summary(composed).basic == "closed"


def test_all_closed_is_closed_and_no_documents_is_an_empty_presence() -> None:
    composed = pidf.compose("sip:a@x", [doc("sip:a@x", ("t1", "closed", ""), ("t2", "closed", ""))])
    assert pidf.summary(composed).basic == "closed"
    empty = pidf.compose("sip:a@x", [])
    assert pidf.summary(empty).basic == "closed"


def test_basic_document_round_trips() -> None:
    opened = pidf.basic_document("sip:bob@example.com", open_=True, note="registered")
    assert pidf.summary(opened) == pidf.Summary("open", "registered")
    closed = pidf.basic_document("sip:bob@example.com", open_=False)
    assert pidf.summary(closed).basic == "closed"
    assert pidf.parse(closed).get("entity") == "sip:bob@example.com"


def test_our_documents_use_the_default_namespace_whatever_else_is_loaded() -> None:
    from services.sip import _reginfo  # noqa: F401 - loaded on purpose: it must not take the default namespace

    text = pidf.basic_document("sip:a@x", open_=True)
    assert text.splitlines()[1].startswith('<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@x">')
    assert "<basic>open</basic>" in text  # naive phone parsers look for exactly this
