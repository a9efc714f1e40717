"""MAIL FROM / RCPT TO paths: the RFC 5321 section 4.1.2 grammar and its limits."""

import pytest

from services.smtp.protocol.addresses import (
    Address,
    AddressError,
    NonAsciiAddressError,
    parse_forward_path,
    parse_reverse_path,
)


@pytest.mark.parametrize(
    ("text", "local_part", "domain"),
    [
        ("<alice@example.test>", "alice", "example.test"),
        ("<Alice.B+tag@Sub.Example.TEST>", "Alice.B+tag", "Sub.Example.TEST"),
        ("<o'brien!#$%&*=?^_`{|}~-@example.test>", "o'brien!#$%&*=?^_`{|}~-", "example.test"),
        ('<"john smith"@example.test>', "john smith", "example.test"),
        ('<"a\\"b\\\\c"@example.test>', 'a"b\\c', "example.test"),
        ('<""@example.test>', "", "example.test"),
        ("<bob@[192.0.2.1]>", "bob", "[192.0.2.1]"),
        ("<bob@[IPv6:2001:db8::1]>", "bob", "[IPv6:2001:db8::1]"),
        ("<bob@[IPv6:::ffff:192.0.2.1]>", "bob", "[IPv6:::ffff:192.0.2.1]"),
        ("<bob@[x-tag:opaque]>", "bob", "[x-tag:opaque]"),
        ("<@relay.example.test:bob@example.test>", "bob", "example.test"),
        ("<@a.example,@b.example:bob@example.test>", "bob", "example.test"),
        ("<bob@xn--bcher-kva.example>", "bob", "xn--bcher-kva.example"),
        ("<bob@localhost>", "bob", "localhost"),
        ("<bob@a-b.c-d.example>", "bob", "a-b.c-d.example"),
    ],
)
def test_valid_paths(text: str, local_part: str, domain: str) -> None:
    address, rest = parse_forward_path(text + " SIZE=1", utf8=False)
    assert (address.local_part, address.domain) == (local_part, domain)
    assert rest == " SIZE=1"


@pytest.mark.parametrize(
    "text",
    [
        "alice@example.test",
        "<alice@example.test",
        "<alice>",
        "<alice@>",
        "<@example.test>",
        "<.alice@example.test>",
        "<alice.@example.test>",
        "<al..ice@example.test>",
        "<alice@example.test.>",
        "<alice@-example.test>",
        "<alice@example-.test>",
        "<alice@exa_mple.test>",
        "<alice@@example.test>",
        "<al ice@example.test>",
        '<"unterminated@example.test>',
        '<"ctrl\x01"@example.test>',
        "<alice@[256.1.1.1]>",
        "<alice@[1.2.3]>",
        "<alice@[IPv6:2001:db8::g]>",
        "<alice@[IPv6:fe80::1%eth0]>",
        "<alice@[just-text]>",
        "<alice@[1.2.3.4>",
        "<@relay.example.test,bob@example.test>",
        "<@relay.example.test bob@example.test>",
        "<>",
        "",
    ],
)
def test_invalid_paths(text: str) -> None:
    with pytest.raises(AddressError):
        parse_forward_path(text, utf8=True)


def test_null_reverse_path_is_none() -> None:
    assert parse_reverse_path("<> BODY=8BITMIME", utf8=False) == (None, " BODY=8BITMIME")


def test_postmaster_without_domain_only_as_recipient() -> None:
    address, rest = parse_forward_path("<PostMaster>", utf8=False)
    assert address == Address("PostMaster", None)
    assert address.is_postmaster and address.text == "PostMaster" and rest == ""
    with pytest.raises(AddressError):
        parse_reverse_path("<Postmaster>", utf8=False)
    assert not parse_forward_path("<postmaster@example.test>", utf8=False)[0].is_postmaster


def test_non_ascii_needs_smtputf8() -> None:
    with pytest.raises(NonAsciiAddressError):
        parse_forward_path("<jörg@example.test>", utf8=False)
    with pytest.raises(NonAsciiAddressError):
        parse_forward_path("<bob@bücher.example>", utf8=False)
    with pytest.raises(NonAsciiAddressError):
        parse_forward_path('<"jö rg"@example.test>', utf8=False)
    address, _ = parse_forward_path("<jörg@bücher.example>", utf8=True)
    assert address.is_utf8 and address.text == "jörg@bücher.example"
    assert parse_forward_path("<用户@例子.测试>", utf8=True)[0].domain == "例子.测试"


def test_length_limits() -> None:
    # RFC 5321 section 4.5.3.1: local part 64, domain 255, path 256 octets.
    assert parse_forward_path(f"<{'a' * 64}@example.test>", utf8=False)
    with pytest.raises(AddressError, match="Local part too long"):
        parse_forward_path(f"<{'a' * 65}@example.test>", utf8=False)
    with pytest.raises(AddressError, match="Local part too long"):
        parse_forward_path(f"<{'ö' * 33}@example.test>", utf8=True)  # 66 octets
    with pytest.raises(AddressError):
        parse_forward_path(f"<a@{'b' * 64}.example>", utf8=False)  # label over 63
    long_domain = ".".join(["d" * 60] * 5)  # 304 octets
    with pytest.raises(AddressError):
        parse_forward_path(f"<a@{long_domain}>", utf8=False)
    path = f"<{'a' * 60}@{'.'.join(['d' * 60] * 3)}.{'e' * 10}>"
    assert len(path) > 200
    with pytest.raises(AddressError, match="Path too long"):
        parse_forward_path(f"<@{'r' * 60}.example:{path[1:]}", utf8=False)


@pytest.mark.parametrize(
    ("local_part", "text"),
    [
        ("john", "john@example.test"),
        ("john smith", '"john smith"@example.test'),
        ('a"b', '"a\\"b"@example.test'),
        ("a\\b", '"a\\\\b"@example.test'),
        ("", '""@example.test'),
        ("a..b", '"a..b"@example.test'),
    ],
)
def test_text_quotes_only_when_needed(local_part: str, text: str) -> None:
    address = Address(local_part, "example.test")
    assert address.text == text == str(address)
    assert parse_forward_path(f"<{text}>", utf8=False)[0] == address


def test_quoted_but_plain_local_part_is_the_same_mailbox() -> None:
    assert parse_forward_path('<"john"@example.test>', utf8=False)[0] == Address("john", "example.test")


def test_address_literal_flag() -> None:
    assert parse_forward_path("<a@[192.0.2.1]>", utf8=False)[0].is_address_literal
    assert not parse_forward_path("<a@example.test>", utf8=False)[0].is_address_literal
