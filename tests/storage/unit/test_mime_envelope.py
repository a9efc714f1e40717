"""ENVELOPE fields: raw values as IMAP wants them, addresses and groups, RFC 2047 decoded forms."""

import pytest

from services.storage.mime import Address, decode_header_text, envelope, parse_address_list, parse_message


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


def test_envelope_fields_are_raw_and_unfolded() -> None:
    raw = crlf(
        "Date:  Mon, 7 Feb 1994 21:52:25 -0800 (PST)\n"
        "Subject: =?ISO-8859-1?Q?Andr=E9?=\n"
        " Pirard\n"
        "From: =?utf-8?q?J=C3=B6rg?= <jorg@example.test>\n"
        "To: a@example.test\n"
        "Cc: b@example.test\n"
        "Bcc: c@example.test\n"
        "In-Reply-To: <parent@example.test>\n"
        "Message-ID: <self@example.test>\n"
        "\n"
        "body\n"
    )
    parsed = parse_message(raw)
    env = parsed.envelope
    assert env.date == "Mon, 7 Feb 1994 21:52:25 -0800 (PST)"
    assert env.subject == "=?ISO-8859-1?Q?Andr=E9?= Pirard"  # encoded words stay for the client
    assert env.decoded_subject == "André Pirard"
    assert env.from_ == (Address("=?utf-8?q?J=C3=B6rg?=", None, "jorg", "example.test"),)
    assert env.from_[0].decoded_name == "Jörg"
    assert env.from_[0].email == "jorg@example.test"
    assert env.to == (Address(None, None, "a", "example.test"),)
    assert env.cc == (Address(None, None, "b", "example.test"),)
    assert env.bcc == (Address(None, None, "c", "example.test"),)
    assert env.in_reply_to == "<parent@example.test>"
    assert env.message_id == "<self@example.test>"
    # Sender and Reply-To default to From (RFC 3501 section 7.4.2).
    assert env.sender == env.from_ and env.reply_to == env.from_
    assert envelope(parsed, raw) == env


def test_sender_and_reply_to_when_present_or_empty() -> None:
    raw = crlf("From: a@example.test\nSender: s@example.test\nReply-To:\n\n")
    env = parse_message(raw).envelope
    assert env.sender == (Address(None, None, "s", "example.test"),)
    assert env.reply_to == env.from_


def test_missing_fields_are_empty() -> None:
    env = parse_message(b"X-Other: 1\r\n\r\n").envelope
    assert (env.date, env.subject, env.in_reply_to, env.message_id) == (None, None, None, None)
    assert env.from_ == env.sender == env.reply_to == env.to == env.cc == env.bcc == ()


def test_first_occurrence_of_a_field_wins() -> None:
    env = parse_message(b"Subject: first\r\nSubject: second\r\n\r\n").envelope
    assert env.subject == "first"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alice@example.test", [Address(None, None, "alice", "example.test")]),
        ("Alice <alice@example.test>", [Address("Alice", None, "alice", "example.test")]),
        ('"Smith, John" <js@example.test>', [Address("Smith, John", None, "js", "example.test")]),
        ('"a \\"b\\" c" <x@example.test>', [Address('a "b" c', None, "x", "example.test")]),
        ("John Q. Public <jqp@example.test>", [Address("John Q. Public", None, "jqp", "example.test")]),
        ("jqp@example.test (John Q. Public)", [Address("John Q. Public", None, "jqp", "example.test")]),
        ("Bob (the builder) <bob@example.test>", [Address("Bob", None, "bob", "example.test")]),
        (
            "<@relay.test,@other.test:user@example.test>",
            [Address(None, "@relay.test,@other.test", "user", "example.test")],
        ),
        ('"john smith"@example.test', [Address(None, None, '"john smith"', "example.test")]),
        ("user@[192.0.2.1]", [Address(None, None, "user", "[192.0.2.1]")]),
        ("root", [Address(None, None, "root", "MISSING_DOMAIN")]),
        ("Name <@example.test>", [Address("Name", None, "MISSING_MAILBOX", "example.test")]),
        ("<>", []),
        ("", []),
        (" , ,", []),
        (
            "a@x.test, B <b@y.test>,c@z.test",
            [
                Address(None, None, "a", "x.test"),
                Address("B", None, "b", "y.test"),
                Address(None, None, "c", "z.test"),
            ],
        ),
    ],
)
def test_address_forms(value: str, expected: list[Address]) -> None:
    assert list(parse_address_list(value)) == expected


def test_group_syntax() -> None:
    value = 'Friends: "A" <a@x.test>, b@x.test; c@y.test, undisclosed-recipients:;, Team : d@z.test'
    assert parse_address_list(value) == (
        Address(None, None, "Friends", None),
        Address("A", None, "a", "x.test"),
        Address(None, None, "b", "x.test"),
        Address(None, None, None, None),
        Address(None, None, "c", "y.test"),
        Address(None, None, "undisclosed-recipients", None),
        Address(None, None, None, None),
        Address(None, None, "Team", None),
        Address(None, None, "d", "z.test"),
        Address(None, None, None, None),  # an unterminated group is closed
    )
    start, member, end = parse_address_list("G: m@x.test;")
    assert start.is_group_start and not start.is_group_end
    assert not member.is_group_start and not member.is_group_end
    assert end.is_group_end
    assert end.email == "" and member.email == "m@x.test"


def test_eight_bit_utf8_address_and_name() -> None:
    raw = "To: Jörg <jörg@bücher.example>\r\n\r\n".encode()
    (address,) = parse_message(raw).envelope.to
    assert address.name == "Jörg".encode().decode("latin-1")  # raw octets, for the protocol
    assert address.decoded_name == "Jörg"
    assert address.email == "jörg@bücher.example"


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?ISO-8859-1?Q?a?=", "a"),
        ("=?ISO-8859-1?Q?a?= b", "a b"),
        ("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"),  # RFC 2047 section 8 examples
        ("(=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?=)", "(ab)"),
        ("(=?ISO-8859-1?Q?a_b?=)", "(a b)"),
        ("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"),
        ("=?utf-8?b?w6k=?= and =?UTF-8?B?w6k?=", "é and é"),
        ("=?utf-8?b?4oI=?= =?utf-8?b?rA==?=", "€"),  # one character split over two words
        ("=?utf-8*en?q?hello?=", "hello"),  # RFC 2231 section 5 language
        ("=?x-unknown?q?plain?=", "plain"),
        ("=?utf-8?x?not encoded?=", "=?utf-8?x?not encoded?="),
        ("=?utf-8?q?broken", "=?utf-8?q?broken"),
        ("=?utf-8?q?=FF?=", "\ufffd"),
        ("caf\xc3\xa9", "café"),  # raw UTF-8 octets (RFC 6532)
        ("caf\xe9", "café"),  # raw latin-1 octets
    ],
)
def test_rfc2047_decoding(raw: str, decoded: str) -> None:
    assert decode_header_text(raw) == decoded
