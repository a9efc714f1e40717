"""Search and sort fields, the RFC 5256 base subject, and the text given to the full-text index."""

import base64
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.storage.mime import (
    SearchAddress,
    SearchFields,
    base_subject,
    parse_date,
    parse_message,
    search_fields,
    strip_html,
    text_for_index,
)
from services.storage.mime._text import collapse_spaces


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


HEADERS = crlf(
    "From: =?utf-8?q?J=C3=B6rg?= <jorg@example.test>\n"
    'To: Team: a@example.test, "B B" <b@example.test>;, c@example.test\n'
    "Cc: d@example.test\n"
    "Subject: Re: [list] Fwd: =?utf-8?q?caf=C3=A9?=\n"
    "\tplans (fwd)\n"
    "Date: Tue, 1 Apr 2025 10:00:00 +0200\n"
    "Message-ID: <m1@example.test>\n"
    "In-Reply-To: <p1@example.test> (comment)\n"
    "References: <r0@example.test>\n"
    "  <r1@example.test> <p1@example.test>\n"
    "\n"
    "body\n"
)


def test_search_fields() -> None:
    fields = search_fields(parse_message(HEADERS), HEADERS)
    assert fields.subject == "Re: [list] Fwd: café plans (fwd)"
    assert fields.base_subject == "café plans"
    assert fields.from_ == (SearchAddress("Jörg", "jorg", "example.test"),)
    assert fields.to == (
        SearchAddress("", "a", "example.test"),
        SearchAddress("B B", "b", "example.test"),
        SearchAddress("", "c", "example.test"),
    )
    assert fields.from_text == "Jörg <jorg@example.test>"
    assert fields.to_text == "a@example.test, B B <b@example.test>, c@example.test"
    assert fields.cc_text == "d@example.test"
    assert fields.bcc_text == ""
    assert fields.sent_date == datetime(2025, 4, 1, 8, 0, tzinfo=UTC)
    assert fields.message_id == "<m1@example.test>"
    assert fields.in_reply_to == "<p1@example.test>"
    assert fields.references == ("<r0@example.test>", "<r1@example.test>", "<p1@example.test>")
    columns = fields.columns()
    assert columns["references"] == "<r0@example.test> <r1@example.test> <p1@example.test>"
    assert set(columns) == {
        "subject",
        "base_subject",
        "from_text",
        "to_text",
        "cc_text",
        "bcc_text",
        "sent_date",
        "message_id",
        "in_reply_to",
        "references",
    }
    assert SearchFields.from_dict(fields.to_dict()) == fields


def test_search_fields_of_an_empty_header() -> None:
    fields = search_fields(parse_message(b"\r\nbody"), b"\r\nbody")
    assert fields == SearchFields()
    assert SearchFields.from_dict(fields.to_dict()) == fields


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("hello", "hello"),
        ("Re: hello", "hello"),
        ("RE: Re: re:rE:  hello", "hello"),
        ("Fw: hello", "hello"),
        ("FWD: hello", "hello"),
        ("Re[2]: hello", "hello"),
        ("Re [2] : hello", "hello"),
        ("[PATCH] hello", "hello"),
        ("[PATCH v2] [1/3] Re: hello", "hello"),
        ("[PATCH]", "[PATCH]"),
        ("[a] [b]", "[b]"),
        ("hello (fwd)", "hello"),
        ("hello (FWD) (fwd)  ", "hello"),
        ("[fwd: hello]", "hello"),
        ("[Fwd: Re: [list] hello (fwd)]", "hello"),
        ("Re: [fwd: Re: hello]", "hello"),
        ("hello\t  world", "hello world"),
        ("about re: things", "about re: things"),
        ("Response: x", "Response: x"),
        ("Re:", ""),
        ("   ", ""),
        ("", ""),
    ],
)
def test_base_subject(subject: str, base: str) -> None:
    assert base_subject(subject) == base


def test_base_subject_of_a_pathological_subject_is_quick() -> None:
    assert base_subject("[a]" * 1000 + " x") == "x"
    assert len(base_subject("[a]" * 100_000 + " x")) < 10  # only the first few KB are looked at
    assert base_subject("Re: " * 100_000) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 7 Feb 1994 21:52:25 -0800", datetime(1994, 2, 8, 5, 52, 25, tzinfo=UTC)),
        ("7 Feb 1994 21:52:25 -0800 (PST)", datetime(1994, 2, 8, 5, 52, 25, tzinfo=UTC)),
        ("Mon, 7 Feb 1994 21:52:25 -0000", datetime(1994, 2, 7, 21, 52, 25, tzinfo=UTC)),
        ("Mon, 7 Feb 1994 21:52:25 GMT", datetime(1994, 2, 7, 21, 52, 25, tzinfo=UTC)),
        ("not a date", None),
        ("Mon, 99 Foo 1994 99:99:99 +9999", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(value: str | None, expected: datetime | None) -> None:
    assert parse_date(value) == expected


def test_text_for_index_prefers_plain_alternative_and_decodes() -> None:
    latin = "Grüße aus Köln".encode("latin-1")
    raw = crlf(
        "Subject: t\n"
        "Content-Type: multipart/mixed; boundary=m\n"
        "\n"
        "--m\n"
        "Content-Type: multipart/alternative; boundary=a\n"
        "\n"
        "--a\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n"
        "\n" + base64.b64encode("plain ünïcode".encode()).decode() + "\n"
        "--a\n"
        "Content-Type: text/html\n"
        "\n"
        "<p>html version</p>\n"
        "--a--\n"
        "--m\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n" + "".join(f"={b:02X}" if b > 127 else chr(b) for b in latin) + "=\n"
        " continued\n"
        "--m\n"
        "Content-Type: image/png\n"
        "\n"
        "PNGDATA\n"
        "--m\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: inner\n"
        "Content-Type: text/html; charset=utf-8\n"
        "\n"
        "<html><head><style>p {color: red}</style><script>var x = '<p>';</script></head>"
        "<body><!-- hidden --><p>Fish &amp; chips&nbsp;&#8364;5</p><br/>line two</body></html>\n"
        "--m--\n"
    )
    parsed = parse_message(raw)
    text = text_for_index(parsed, raw)
    assert text == "plain ünïcode\nGrüße aus Köln continued\nFish & chips\xa0€5 line two"
    assert "html version" not in text and "PNGDATA" not in text and "color" not in text


def test_text_for_index_is_bounded() -> None:
    raw = b"Content-Type: text/plain\r\n\r\n" + b"word " * 1_000_000
    text = text_for_index(parse_message(raw), raw, limit=1000)
    assert len(text) == 1000
    assert text.startswith("word word")


def test_text_for_index_with_unknown_charset_and_encoding() -> None:
    raw = crlf("Content-Type: text/plain; charset=x-klingon\nContent-Transfer-Encoding: x-uuencode\n\nqapla'\n")
    assert text_for_index(parse_message(raw), raw) == "qapla'"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<b>bold</b> text", " bold  text"),
        ("a < b", "a  "),  # an unclosed tag ends the text
        ("x<!-- never closed", "x "),
        ("<SCRIPT>alert(1)</SCRIPT>after", " after"),
        ("<style>never closed", " "),
        ("&lt;tag&gt; &quot;q&quot;", '<tag> "q"'),
        ("İ<b>x</b>", "İ x "),  # characters whose lower case is longer do not shift the scan
    ],
)
def test_strip_html(html: str, text: str) -> None:
    assert strip_html(html) == text


def test_strip_html_is_linear_on_many_open_brackets() -> None:
    assert strip_html("<" * 1_000_000) == " "
    assert strip_html("a<" + "<script" * 200_000) == "a "


@given(st.text(alphabet="ab \t\f\v\r\n\u00a0", max_size=40))
def test_collapse_spaces_turns_each_run_into_one_space_or_one_line_break(text: str) -> None:
    expected = re.sub(r"[ \t\f\v\r]*\n[ \t\f\v\r\n]*", "\n", text)
    expected = re.sub(r"[ \t\f\v\r]+", " ", expected)
    assert collapse_spaces(text) == expected
