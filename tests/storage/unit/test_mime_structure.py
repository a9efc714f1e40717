"""Part trees and byte offsets: BODY[section], .MIME, .HEADER and .TEXT are slices of the raw message."""

import base64

from services.storage.mime import ParsedMessage, Part, decoded_body, find_part, parse_message, section_range


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


def body(raw: bytes, part: Part) -> bytes:
    return raw[part.header_end : part.end]


def mime_header(raw: bytes, part: Part) -> bytes:
    return raw[part.start : part.header_end]


def sections(parsed: ParsedMessage) -> list[tuple[str, str]]:
    return [(part.section, part.content_type) for part in parsed.walk()]


SIMPLE = crlf("From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: lunch\n\nShall we?\nAt noon.\n")


def test_simple_text_message() -> None:
    parsed = parse_message(SIMPLE)
    root = parsed.root
    assert parsed.size == len(SIMPLE)
    assert parsed.header_end == SIMPLE.index(b"\r\n\r\n") + 4
    assert (root.section, root.start, root.header_end, root.end) == ("", 0, parsed.header_end, len(SIMPLE))
    assert (root.type, root.subtype, root.params) == ("text", "plain", (("charset", "us-ascii"),))
    assert body(SIMPLE, root) == b"Shall we?\r\nAt noon.\r\n"
    assert mime_header(SIMPLE, root).endswith(b"Subject: lunch\r\n\r\n")
    assert (root.size, root.lines) == (21, 2)
    assert root.children == () and root.message is None
    assert parsed.defects == ()
    # A non-multipart message's body is also part 1 (RFC 3501 section 6.4.5).
    assert find_part(parsed, "1") is root
    assert find_part(parsed, "") is root
    assert find_part(parsed, "2") is None
    assert find_part(parsed, "1.1") is None


ALTERNATIVE = crlf(
    "From: alice@example.test\n"
    "Subject: both\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/alternative; boundary="alt"\n'
    "\n"
    "This is a MIME message.\n"
    "--alt\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "plain text\n"
    "--alt\n"
    "Content-Type: text/html; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "<p>html=20text</p>\n"
    "--alt--\n"
    "epilogue\n"
)


def test_multipart_alternative() -> None:
    parsed = parse_message(ALTERNATIVE)
    assert sections(parsed) == [("", "multipart/alternative"), ("1", "text/plain"), ("2", "text/html")]
    plain, html = parsed.root.children
    assert body(ALTERNATIVE, plain) == b"plain text"
    assert mime_header(ALTERNATIVE, plain) == b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    assert body(ALTERNATIVE, html) == b"<p>html=20text</p>"
    assert html.encoding == "quoted-printable"
    assert decoded_body(ALTERNATIVE, html) == b"<p>html text</p>"
    assert plain.charset == "utf-8"
    assert (plain.lines, html.lines) == (1, 1)
    assert parsed.root.params == (("boundary", "alt"),)
    assert parsed.root.lines is None
    assert parsed.defects == ()
    # The multipart's body runs from the preamble to the end of the epilogue.
    assert body(ALTERNATIVE, parsed.root).startswith(b"This is a MIME message.\r\n--alt\r\n")
    assert body(ALTERNATIVE, parsed.root).endswith(b"--alt--\r\nepilogue\r\n")


ATTACHMENT_BYTES = bytes(range(256)) * 3
MIXED = (
    crlf(
        "From: alice@example.test\n"
        "Subject: report\n"
        "Content-Type: multipart/mixed;\n"
        '\tboundary="==mixed=="\n'
        "\n"
        "--==mixed==\n"
        "Content-Type: text/plain\n"
        "\n"
        "See attached.\n"
        "--==mixed==\n"
        'Content-Type: application/octet-stream; name="data.bin"\n'
        "Content-Transfer-Encoding: BASE64\n"
        'Content-Disposition: attachment; filename="data.bin"; size=768\n'
        "Content-ID: <part2@example.test>\n"
        "Content-Description: the data\n"
        "Content-Language: en, de\n"
        "Content-Location: http://example.test/data.bin\n"
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
        "\n"
    )
    + base64.encodebytes(ATTACHMENT_BYTES).replace(b"\n", b"\r\n")
    + crlf("--==mixed==--\n")
)


def test_multipart_mixed_with_base64_attachment() -> None:
    parsed = parse_message(MIXED)
    text, attachment = parsed.root.children
    assert body(MIXED, text) == b"See attached."
    assert (attachment.section, attachment.type, attachment.subtype) == ("2", "application", "octet-stream")
    assert attachment.encoding == "base64"
    assert decoded_body(MIXED, attachment) == ATTACHMENT_BYTES
    assert attachment.disposition == "attachment"
    assert attachment.disposition_params == (("filename", "data.bin"), ("size", "768"))
    assert attachment.filename == "data.bin"
    assert attachment.id == "<part2@example.test>"
    assert attachment.description == "the data"
    assert attachment.language == ("en", "de")
    assert attachment.location == "http://example.test/data.bin"
    assert attachment.md5 == "Q2hlY2sgSW50ZWdyaXR5IQ=="
    assert attachment.lines is None  # only text/* and message/rfc822 carry a line count
    assert attachment.end == len(MIXED) - len(b"\r\n--==mixed==--\r\n")
    assert parsed.root.params == (("boundary", "==mixed=="),)


NESTED = crlf(
    "From: alice@example.test\n"
    "Subject: Fwd: the plan\n"
    "Content-Type: multipart/mixed; boundary=outer\n"
    "\n"
    "--outer\n"
    "\n"
    "Forwarding this.\n"
    "--outer\n"
    "Content-Type: message/rfc822\n"
    "Content-Description: forwarded\n"
    "\n"
    "From: Carol <carol@example.test>\n"
    "Subject: the plan\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\n"
    "Content-Type: multipart/mixed; boundary=inner\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain\n"
    "\n"
    "Step one.\n"
    "--inner\n"
    "Content-Type: multipart/alternative; boundary=deep\n"
    "\n"
    "--deep\n"
    "\n"
    "deep plain\n"
    "--deep\n"
    "Content-Type: text/html\n"
    "\n"
    "<b>deep</b>\n"
    "--deep--\n"
    "--inner--\n"
    "--outer--\n"
)


def test_nested_message_rfc822_with_its_own_multipart() -> None:
    parsed = parse_message(NESTED)
    assert sections(parsed) == [
        ("", "multipart/mixed"),
        ("1", "text/plain"),
        ("2", "message/rfc822"),
        ("2", "multipart/mixed"),
        ("2.1", "text/plain"),
        ("2.2", "multipart/alternative"),
        ("2.2.1", "text/plain"),
        ("2.2.2", "text/html"),
    ]
    forwarded = find_part(parsed, "2")
    assert forwarded is not None and forwarded.message is not None and forwarded.envelope is not None
    inner = forwarded.message
    # BODY[2] is the whole encapsulated message; 2.HEADER and 2.TEXT split it; 2.MIME is the part header.
    assert body(NESTED, forwarded).startswith(b"From: Carol <carol@example.test>\r\n")
    assert body(NESTED, forwarded).endswith(b"--inner--")
    assert mime_header(NESTED, forwarded) == b"Content-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n"
    assert (inner.start, inner.end) == (forwarded.header_end, forwarded.end)
    assert NESTED[inner.start : inner.header_end].endswith(b"boundary=inner\r\n\r\n")
    assert body(NESTED, inner).startswith(b"--inner\r\n")
    assert forwarded.lines == body(NESTED, forwarded).count(b"\n") + 1
    assert forwarded.envelope.subject == "the plan"
    assert forwarded.envelope.date == "Mon, 7 Feb 1994 21:52:25 -0800"
    assert parsed.envelope.subject == "Fwd: the plan"

    def at(section: str) -> bytes:
        part = find_part(parsed, section)
        assert part is not None, section
        return body(NESTED, part)

    assert at("1") == b"Forwarding this."
    assert at("2.1") == b"Step one."
    assert at("2.2.1") == b"deep plain"
    assert at("2.2.2") == b"<b>deep</b>"
    assert find_part(parsed, "2.3") is None
    assert find_part(parsed, "2.2.3") is None
    assert find_part(parsed, "3") is None
    assert find_part(parsed, "0") is None
    assert find_part(parsed, "x") is None


def test_section_ranges_of_every_section_spec() -> None:
    parsed = parse_message(NESTED)

    def fetch(section: str) -> bytes | None:
        found = section_range(parsed, section)
        return None if found is None else NESTED[found[0] : found[1]]

    assert fetch("") == NESTED
    assert fetch("HEADER") == NESTED[: parsed.header_end]
    assert fetch("header.fields") == fetch("HEADER.FIELDS.NOT") == fetch("HEADER")
    assert fetch("TEXT") == NESTED[parsed.header_end :]
    assert fetch("1") == b"Forwarding this."
    assert fetch("1.MIME") == b"\r\n"
    assert fetch("2.MIME") == b"Content-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n"
    assert fetch("2.HEADER") is not None and fetch("2.HEADER").endswith(b"boundary=inner\r\n\r\n")  # type: ignore[union-attr]
    assert fetch("2.TEXT") is not None and fetch("2.TEXT").startswith(b"--inner\r\n")  # type: ignore[union-attr]
    assert fetch("2") == (fetch("2.HEADER") or b"") + (fetch("2.TEXT") or b"")
    assert fetch("2.2.1") == b"deep plain"
    assert fetch("2.2.1.MIME") == b"\r\n"
    # HEADER and TEXT need a message/rfc822 part; MIME needs a part number.
    assert fetch("1.HEADER") is None
    assert fetch("2.2.TEXT") is None
    assert fetch("MIME") is None
    assert fetch("9") is None
    assert fetch("1.BOGUS") is None


def test_single_part_encapsulated_message_is_numbered_one() -> None:
    raw = crlf("Content-Type: message/rfc822\n\nSubject: inside\n\ninner body\n")
    parsed = parse_message(raw)
    # Part 1 is the top-level body (the encapsulated message); 1.1 is that message's own body.
    part = find_part(parsed, "1")
    assert part is parsed.root
    assert part.message is not None and part.message.section == "1"
    inner_body = find_part(parsed, "1.1")
    assert inner_body is not None and body(raw, inner_body) == b"inner body\r\n"
    assert find_part(parsed, "1.2") is None


def test_multipart_inside_top_level_message_rfc822_counts_from_one() -> None:
    raw = crlf(
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: inside\n"
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "\n"
        "first\n"
        "--b\n"
        "\n"
        "second\n"
        "--b--\n"
    )
    parsed = parse_message(raw)
    assert sections(parsed) == [
        ("", "message/rfc822"),
        ("1", "multipart/mixed"),
        ("1.1", "text/plain"),
        ("1.2", "text/plain"),
    ]
    second = find_part(parsed, "1.2")
    assert second is not None and body(raw, second) == b"second"
    assert find_part(parsed, "2") is None


def test_bare_lf_message_has_the_same_structure() -> None:
    lf = NESTED.replace(b"\r\n", b"\n")
    crlf_parsed, lf_parsed = parse_message(NESTED), parse_message(lf)
    assert sections(lf_parsed) == sections(crlf_parsed)
    assert lf_parsed.defects == ()
    for section in ("1", "2", "2.1", "2.2", "2.2.1", "2.2.2"):
        lf_part, crlf_part = find_part(lf_parsed, section), find_part(crlf_parsed, section)
        assert lf_part is not None and crlf_part is not None
        assert body(lf, lf_part) == body(NESTED, crlf_part).replace(b"\r\n", b"\n")
        assert lf_part.lines == crlf_part.lines


def test_mixed_line_endings() -> None:
    raw = (
        b"Subject: mixed\nContent-Type: multipart/mixed; boundary=b\r\n\n"
        b"--b\r\n\nfirst\n--b\nContent-Type: text/x\r\n\r\nsecond\r\n--b--\n"
    )
    parsed = parse_message(raw)
    first, second = parsed.root.children
    assert body(raw, first) == b"first"
    assert body(raw, second) == b"second"
    assert second.subtype == "x"


def test_body_only_without_header() -> None:
    raw = b"just some words\r\nand more\r\n"
    parsed = parse_message(raw)
    assert parsed.header_end == 0
    assert body(raw, parsed.root) == raw
    assert parsed.envelope.subject is None and parsed.envelope.from_ == ()
    assert "no_header_separator" in parsed.defects


def test_header_without_blank_line_and_without_body() -> None:
    raw = b"Subject: only a header\r\nFrom: a@example.test"
    parsed = parse_message(raw)
    assert parsed.header_end == len(raw)
    assert parsed.root.size == 0 and parsed.root.lines == 0
    assert parsed.envelope.subject == "only a header"


def test_header_ended_by_a_line_that_is_not_a_field() -> None:
    raw = b"Subject: sloppy\nthis line is body\nso is this\n"
    parsed = parse_message(raw)
    assert parsed.header_end == raw.index(b"this line")
    assert body(raw, parsed.root) == b"this line is body\nso is this\n"
    assert parsed.envelope.subject == "sloppy"


def test_empty_message() -> None:
    parsed = parse_message(b"")
    assert (parsed.size, parsed.header_end) == (0, 0)
    assert (parsed.root.start, parsed.root.header_end, parsed.root.end) == (0, 0, 0)


def test_mbox_from_line_is_skipped() -> None:
    raw = b"From alice@example.test Mon Feb  7 21:52:25 1994\nSubject: mbox\n\nhi\n"
    parsed = parse_message(raw)
    assert parsed.envelope.subject == "mbox"
    assert body(raw, parsed.root) == b"hi\n"


def test_folded_header_fields_are_unfolded() -> None:
    raw = crlf('Subject: a long\n  subject\nContent-Type: text/plain;\n\tcharset="iso-8859-1"\n\nx')
    parsed = parse_message(raw)
    assert parsed.envelope.subject == "a long  subject"
    assert parsed.root.params == (("charset", "iso-8859-1"),)


def test_closing_boundary_missing() -> None:
    raw = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\nstill two\n")
    parsed = parse_message(raw)
    one, two = parsed.root.children
    assert body(raw, one) == b"one"
    assert body(raw, two) == b"two\r\nstill two\r\n"  # the last part runs to the end
    assert "missing_closing_boundary" in parsed.defects


def test_boundary_never_appears() -> None:
    raw = crlf("Content-Type: multipart/mixed; boundary=nowhere\n\nno parts here\n--elsewhere\n")
    parsed = parse_message(raw)
    (only,) = parsed.root.children
    # The body becomes one plain part so BODYSTRUCTURE stays valid and BODY[1] shows the text.
    assert (only.section, only.content_type) == ("1", "text/plain")
    assert body(raw, only) == body(raw, parsed.root)
    assert "boundary_not_found" in parsed.defects


def test_multipart_without_boundary_parameter() -> None:
    raw = crlf("Content-Type: multipart/mixed\n\n--x\n\ntext\n--x--\n")
    parsed = parse_message(raw)
    (only,) = parsed.root.children
    assert body(raw, only) == body(raw, parsed.root)


def test_boundary_text_in_preamble_and_inside_lines_is_not_a_delimiter() -> None:
    raw = crlf(
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "preamble mentions --b in a sentence\n"
        "--bogus is a longer boundary, not ours\n"
        "--b\n"
        "\n"
        "part one says --b too\n"
        "--b-- trailing junk is not a close delimiter\n"
        "--b \t\n"
        "\n"
        "part two\n"
        "--b--\n"
        "--b\n"
        "\n"
        "epilogue, not a part\n"
    )
    parsed = parse_message(raw)
    one, two = parsed.root.children
    assert body(raw, one) == b"part one says --b too\r\n--b-- trailing junk is not a close delimiter"
    assert body(raw, two) == b"part two"
    assert parsed.defects == ()


def test_empty_parts_between_adjacent_delimiters() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\nx\n--b--\n"
    parsed = parse_message(raw)
    empty, x = parsed.root.children
    assert empty.start <= empty.header_end <= empty.end and body(raw, empty) == b""
    assert body(raw, x) == b"x"


def test_outer_boundary_ends_an_unclosed_inner_multipart() -> None:
    raw = crlf(
        "Content-Type: multipart/mixed; boundary=outer\n"
        "\n"
        "--outer\n"
        "Content-Type: multipart/alternative; boundary=inner\n"
        "\n"
        "--inner\n"
        "\n"
        "inner one\n"
        "--outer\n"
        "\n"
        "outer two\n"
        "--outer--\n"
    )
    parsed = parse_message(raw)
    assert sections(parsed) == [
        ("", "multipart/mixed"),
        ("1", "multipart/alternative"),
        ("1.1", "text/plain"),
        ("2", "text/plain"),
    ]
    assert body(raw, parsed.root.children[0].children[0]) == b"inner one"
    assert body(raw, parsed.root.children[1]) == b"outer two"


def test_eight_bit_junk_and_nul_bytes() -> None:
    raw = (
        b"Subject: caf\xe9 \x00au\xff lait\r\n"
        b"From: J\xc3\xb6rg <j\xf6rg@ex\x00ample.test>\r\n"
        b"X-Junk: \x80\x81\x82\r\n"
        b'Content-Type: multipart/mixed; boundary="\xe9b"\r\n'
        b"\r\n"
        b"--\xe9b\r\n"
        b"Content-Type: text/plain; charset=\x00\xff\r\n"
        b"\r\n"
        b"\x00\x01\x02\xff\xfe binary \x00\r\n"
        b"--\xe9b--\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.envelope.subject == "caf\xe9 au\xff lait"  # NULs dropped, other octets kept as latin-1
    assert parsed.envelope.from_[0].mailbox == "j\xf6rg"
    assert parsed.envelope.from_[0].host == "example.test"
    assert parsed.envelope.from_[0].decoded_name == "Jörg"
    (part,) = parsed.root.children
    assert body(raw, part) == b"\x00\x01\x02\xff\xfe binary \x00"
    assert part.params == (("charset", "\xff"),)


def test_multipart_digest_parts_default_to_message_rfc822() -> None:
    raw = crlf(
        "Content-Type: multipart/digest; boundary=d\n"
        "\n"
        "--d\n"
        "\n"
        "Subject: first\n"
        "\n"
        "one\n"
        "--d\n"
        "Content-Type: text/plain\n"
        "\n"
        "two\n"
        "--d--\n"
    )
    parsed = parse_message(raw)
    first, second = parsed.root.children
    assert first.content_type == "message/rfc822"
    assert first.envelope is not None and first.envelope.subject == "first"
    assert second.content_type == "text/plain"


def test_encoded_message_rfc822_is_a_leaf() -> None:
    raw = crlf("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQp5\n")
    parsed = parse_message(raw)
    assert parsed.root.message is None and parsed.root.envelope is None
    assert parsed.root.lines == 1


def test_invalid_content_type_defaults_to_text_plain() -> None:
    raw = b"Content-Type: garbage\r\n\r\nx"
    parsed = parse_message(raw)
    assert (parsed.root.content_type, parsed.root.params) == ("text/plain", (("charset", "us-ascii"),))


def test_content_type_with_comments_and_odd_spacing() -> None:
    raw = b'Content-Type: Text / HTML (a comment) ; CharSet = "UTF-8" (another) ; format=flowed\r\n\r\nx'
    parsed = parse_message(raw)
    assert (parsed.root.type, parsed.root.subtype) == ("text", "html")
    assert parsed.root.params == (("charset", "UTF-8"), ("format", "flowed"))
    assert parsed.root.charset == "utf-8"


def test_quoted_parameter_with_escapes() -> None:
    raw = b'Content-Type: application/x; name="a \\"quoted\\" \\\\ name; still"; x=1\r\n\r\n'
    parsed = parse_message(raw)
    assert parsed.root.params == (("name", 'a "quoted" \\ name; still'), ("x", "1"))
