"""BODY, BODYSTRUCTURE and ENVELOPE protocol text, checked byte for byte against the RFC 3501 grammar."""

from services.storage.mime import Address, Envelope, imap_string, parse_message, render_bodystructure, render_envelope


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


def lines_of(count: int, width: int, last: int) -> str:
    """`count - 1` lines of `width` characters, then one of `last` characters with no line break."""
    return ("x" * width + "\n") * (count - 1) + "y" * last


# The message of the FETCH example in RFC 3501 section 7.4.2 (RFC822.SIZE aside).
RFC3501_EXAMPLE = crlf(
    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
    "From: Terry Gray <gray@cac.washington.edu>\n"
    "Subject: IMAP4rev1 WG mtg summary and minutes\n"
    "To: imap@cac.washington.edu\n"
    "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"
    "Message-Id: <B27397-0100000@cac.washington.edu>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
    "\n" + lines_of(92, 31, 23) + "\n"
)


def test_rfc3501_fetch_example_envelope_and_body() -> None:
    parsed = parse_message(RFC3501_EXAMPLE)
    assert render_envelope(parsed.envelope) == (
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes"'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' ((NIL NIL "imap" "cac.washington.edu"))'
        b' ((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU"))'
        b" NIL NIL"
        b' "<B27397-0100000@cac.washington.edu>")'
    )
    assert render_bodystructure(parsed, extensible=False) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)'
    )
    assert render_bodystructure(parsed) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92 NIL NIL NIL NIL)'
    )


# The multipart of the BODYSTRUCTURE example in RFC 3501 section 7.4.2.
RFC3501_MULTIPART = crlf(
    "Subject: diff\n"
    'Content-Type: MULTIPART/MIXED; BOUNDARY="16820115-1435684063-837995525=:20117"\n'
    "\n"
    "--16820115-1435684063-837995525=:20117\n"
    "Content-Type: TEXT/PLAIN; charset=US-ASCII\n"
    "\n" + lines_of(23, 48, 52) + "\n"
    "--16820115-1435684063-837995525=:20117\n"
    'Content-Type: TEXT/PLAIN; charset=US-ASCII; name="cc.diff"\n'
    "Content-Transfer-Encoding: BASE64\n"
    "Content-ID: <960723163407.20117h@cac.washington.edu>\n"
    "Content-Description: Compiler diff\n"
    "\n" + lines_of(73, 61, 18) + "\n"
    "--16820115-1435684063-837995525=:20117--\n"
)


def test_rfc3501_bodystructure_example() -> None:
    parsed = parse_message(RFC3501_MULTIPART)
    assert render_bodystructure(parsed, extensible=False) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)'
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff")'
        b' "<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")'
    )
    # body-ext-mpart: body-fld-param SP body-fld-dsp SP body-fld-lang SP body-fld-loc;
    # body-ext-1part: body-fld-md5 SP body-fld-dsp SP body-fld-lang SP body-fld-loc.
    assert render_bodystructure(parsed) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23 NIL NIL NIL NIL)'
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff")'
        b' "<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73 NIL NIL NIL NIL)'
        b' "MIXED" ("BOUNDARY" "16820115-1435684063-837995525=:20117") NIL NIL NIL)'
    )


FORWARD = crlf(
    "From: alice@example.test\n"
    "Subject: fwd\n"
    "Content-Type: multipart/mixed; boundary=m\n"
    "Content-Language: en\n"
    "\n"
    "--m\n"
    "Content-Type: text/plain; charset=utf-8; format=flowed\n"
    "Content-Disposition: inline\n"
    "Content-Language: en, fr\n"
    "\n"
    "see below\n"
    "--m\n"
    'Content-Type: message/rfc822; name="fwd.eml"\n'
    'Content-Disposition: attachment; filename="fwd.eml"\n'
    "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==\n"
    "Content-Location: fwd.eml\n"
    "\n"
    'From: "Bob \\"B\\" Smith" <bob@example.test>\n'
    "Subject: inner\n"
    "\n"
    "inner body\n"
    "--m\n"
    "Content-Type: image/png\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "iVBORw0KGgo=\n"
    "--m--\n"
)


def test_nested_message_with_extension_data() -> None:
    parsed = parse_message(FORWARD)
    bob = b'(("Bob \\"B\\" Smith" NIL "bob" "example.test"))'
    inner_envelope = b'(NIL "inner" ' + bob + b" " + bob + b" " + bob + b" NIL NIL NIL NIL NIL)"
    assert render_bodystructure(parsed) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "utf-8" "FORMAT" "flowed") NIL NIL "7BIT" 9 1'
        b' NIL ("INLINE" NIL) ("en" "fr") NIL)'
        b'("MESSAGE" "RFC822" ("NAME" "fwd.eml") NIL NIL "7BIT" 72 '
        + inner_envelope
        + b' ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 4'
        b' "1B2M2Y8AsgTpgAmY7PhCfg==" ("ATTACHMENT" ("FILENAME" "fwd.eml")) NIL "fwd.eml")'
        b'("IMAGE" "PNG" NIL NIL NIL "BASE64" 12 NIL NIL NIL NIL)'
        b' "MIXED" ("BOUNDARY" "m") NIL "en" NIL)'
    )
    assert render_bodystructure(parsed, extensible=False) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "utf-8" "FORMAT" "flowed") NIL NIL "7BIT" 9 1)'
        b'("MESSAGE" "RFC822" ("NAME" "fwd.eml") NIL NIL "7BIT" 72 '
        + inner_envelope
        + b' ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1) 4)'
        b'("IMAGE" "PNG" NIL NIL NIL "BASE64" 12) "MIXED")'
    )
    # The BODYSTRUCTURE of one part is rendered the same way.
    assert render_bodystructure(parsed.root.children[2]) == b'("IMAGE" "PNG" NIL NIL NIL "BASE64" 12 NIL NIL NIL NIL)'


def test_rfc2231_parameters_keep_their_extended_form() -> None:
    raw = crlf(
        "Content-Type: application/pdf;\n"
        " name*0*=utf-8''%E2%82%AC%20;\n"
        ' name*1="rate 100%.pdf"\n'
        "Content-Disposition: attachment; filename*=UTF-8'en'%C3%A9t%C3%A9.pdf\n"
        "\n"
        "x"
    )
    parsed = parse_message(raw)
    # RFC 2231 section 3: continuations joined; the extended form stays for the client to decode.
    assert render_bodystructure(parsed) == (
        b'("APPLICATION" "PDF" ("NAME*" "utf-8\'\'%E2%82%AC%20rate%20100%25.pdf") NIL NIL "7BIT" 1'
        b' NIL ("ATTACHMENT" ("FILENAME*" "UTF-8\'en\'%C3%A9t%C3%A9.pdf")) NIL NIL)'
    )
    assert parsed.root.param("name") == "€ rate 100%.pdf"
    assert parsed.root.filename == "été.pdf"


def test_multipart_without_parts_and_opaque_message_stay_well_formed() -> None:
    deep = crlf("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQp5\n")
    assert render_bodystructure(parse_message(deep), extensible=False) == (
        b'("MESSAGE" "RFC822" NIL NIL NIL "BASE64" 22 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)'
        b' ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0) 1)'
    )


def test_eight_bit_and_multiline_values_become_literals() -> None:
    raw = b'Subject: caf\xc3\xa9\r\nContent-Description: a\r\n b "q" \\\r\n\r\nx'
    parsed = parse_message(raw)
    assert render_envelope(parsed.envelope).startswith(b"(NIL {5}\r\ncaf\xc3\xa9 NIL")
    assert b'"a b \\"q\\" \\\\"' in render_bodystructure(parsed)


def test_imap_string_forms() -> None:
    assert imap_string(None) == b"NIL"
    assert imap_string("") == b'""'
    assert imap_string('say "hi" \\ bye') == b'"say \\"hi\\" \\\\ bye"'
    assert imap_string("two\r\nlines") == b"{10}\r\ntwo\r\nlines"
    assert imap_string("\xe9") == b"{1}\r\n\xe9"  # raw header octets as latin-1
    assert imap_string("€") == b"{3}\r\n\xe2\x82\xac"  # other text as UTF-8
    assert imap_string("a\x00b") == b'"ab"'
    assert imap_string("x" * 2000).startswith(b"{2000}\r\nxxx")


def test_envelope_groups_and_missing_fields() -> None:
    envelope = Envelope(
        subject="s",
        to=(
            Address(mailbox="team"),
            Address(name="A", mailbox="a", host="example.test"),
            Address(),
        ),
        message_id="<id@example.test>",
    )
    assert render_envelope(envelope) == (
        b'(NIL "s" NIL NIL NIL ((NIL NIL "team" NIL)("A" NIL "a" "example.test")(NIL NIL NIL NIL))'
        b' NIL NIL NIL "<id@example.test>")'
    )
    assert render_envelope(Envelope()) == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
