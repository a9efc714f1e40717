"""Parsed values remembered by their text: the same immutable value, failures never remembered, bounded."""

from __future__ import annotations

import pytest

from services.sip.protocol import GrammarError, ParseError, parse_message, parse_uri
from services.sip.protocol.address import parse_name_addr
from services.sip.protocol.grammar import text_cache
from services.sip.protocol.via import parse_via


def test_the_same_text_gives_the_same_value() -> None:
    assert parse_uri("sip:alice@example.test;transport=tcp") is parse_uri("sip:alice@example.test;transport=tcp")
    assert parse_name_addr("<sip:bob@example.test>;tag=1") is parse_name_addr("<sip:bob@example.test>;tag=1")
    via = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;received=192.0.2.9"
    assert parse_via(via) is parse_via(via)


def test_failures_are_raised_every_time() -> None:
    for _ in range(3):
        with pytest.raises(GrammarError):
            parse_uri("sip:alice@exa mple.test")
        with pytest.raises(GrammarError):
            parse_via("SIP/2.0/UDP 192.0.2.1;received=not-an-address")


def test_long_texts_and_many_texts_are_not_kept() -> None:
    calls: list[str] = []

    def parse(text: str) -> tuple[str]:
        calls.append(text)
        return (text,)

    cached = text_cache(parse, maxsize=2, longest=8)
    cached("short")
    cached("short")
    assert calls == ["short"]
    cached("much longer than eight")
    cached("much longer than eight")
    assert calls.count("much longer than eight") == 2
    cached("a")
    cached("b")
    cached("short")  # pushed out by two newer texts
    assert calls.count("short") == 2


def test_duplicate_single_fields_are_still_refused() -> None:
    data = (
        b"OPTIONS sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        b"From: <sip:a@example.test>;tag=1\r\nFrom: <sip:a@example.test>;tag=1\r\nTo: <sip:bob@example.test>\r\n"
        b"Call-ID: x@192.0.2.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    with pytest.raises(ParseError, match="More than one From"):
        parse_message(data)
