"""Canonical addresses: case, IDNA, sub-addressing and refusals."""

import pytest

from services.directory._addresses import (
    InvalidAddress,
    domain_ace,
    normalize_domain,
    parse_address,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("Alice@Example.TEST", "alice@example.test"),
        ("<alice@example.test>", "alice@example.test"),
        ("alice@example.test.", "alice@example.test"),
        ("jörg@BÜCHER.example", "jörg@bücher.example"),
        ("jörg@xn--bcher-kva.example", "jörg@bücher.example"),
        ("o'brien+tag@example.test", "o'brien+tag@example.test"),
        ("user@sub.sub2.example.test", "user@sub.sub2.example.test"),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    assert parse_address(text).text == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no-at-sign",
        "@example.test",
        "alice@",
        "alice@localhost",
        ".alice@example.test",
        "alice.@example.test",
        "al..ice@example.test",
        "al ice@example.test",
        '"quoted"@example.test',
        "alice@[127.0.0.1]",
        "a" * 65 + "@example.test",
        "alice@" + "a" * 250 + ".test",
        "alice@exa mple.test",
        "al\x00ice@example.test",
        "alice@-example.test",
    ],
)
def test_refused(text: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_address(text)


def test_subaddress_is_stripped_only_on_request() -> None:
    address = parse_address("alice+lists@example.test")
    assert address.local == "alice+lists"
    assert address.without_subaddress() == parse_address("alice@example.test")
    assert parse_address("alice@example.test").without_subaddress() is None
    assert parse_address("+x@example.test").without_subaddress() is None


def test_domain_ascii_form() -> None:
    assert domain_ace(normalize_domain("Bücher.Example")) == "xn--bcher-kva.example"
