"""reginfo documents (RFC 3680) for the reg event package."""

from __future__ import annotations

from xml.etree import ElementTree

from libs.contracts.sip import Binding
from services.sip import _reginfo as reginfo

NS = "{urn:ietf:params:xml:ns:reginfo}"


def test_full_state_with_contacts() -> None:
    bindings = [
        Binding(contact="sip:alice@10.0.0.2:5060", expires_at=1600.0, q=0.5, call_id="c2", cseq=3),
        Binding(contact="sip:alice@10.0.0.1:5060", expires_at=1300.4, call_id="c1", cseq=7),
    ]
    root = ElementTree.fromstring(reginfo.document("sip:alice@x", bindings, version=4, now=1000.0))
    assert root.tag == f"{NS}reginfo" and root.get("version") == "4" and root.get("state") == "full"
    registration = root.find(f"{NS}registration")
    assert registration is not None and registration.get("state") == "active"
    contacts = registration.findall(f"{NS}contact")
    assert [c.findtext(f"{NS}uri") for c in contacts] == ["sip:alice@10.0.0.1:5060", "sip:alice@10.0.0.2:5060"]
    assert [c.get("expires") for c in contacts] == ["300", "600"]
    assert contacts[1].get("q") == "0.5" and contacts[0].get("cseq") == "7" and contacts[0].get("callid") == "c1"
    assert len({c.get("id") for c in contacts}) == 2


def test_no_bindings_is_init_and_ids_are_stable() -> None:
    empty = ElementTree.fromstring(reginfo.document("sip:bob@x", [], version=0, now=0.0))
    registration = empty.find(f"{NS}registration")
    assert registration is not None and registration.get("state") == "init"
    assert registration.findall(f"{NS}contact") == []
    again = ElementTree.fromstring(reginfo.document("sip:BOB@x", [], version=1, now=5.0))
    assert again.find(f"{NS}registration").get("id") == registration.get("id")  # type: ignore[union-attr]


def test_values_are_escaped() -> None:
    odd = Binding(contact='sip:a@h;x="<&>"', expires_at=10.0, call_id='c"<&', cseq=1)
    root = ElementTree.fromstring(reginfo.document("sip:a&b@x", [odd], version=0, now=0.0))
    contact = root.find(f"{NS}registration/{NS}contact")
    assert contact is not None and contact.findtext(f"{NS}uri") == odd.contact and contact.get("callid") == 'c"<&'
