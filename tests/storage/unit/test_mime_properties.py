"""Properties over arbitrary input: parsing never fails, offsets nest, the JSON form round-trips."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from services.storage.mime import (
    ParsedMessage,
    Part,
    find_part,
    parse_message,
    render_bodystructure,
    render_envelope,
    search_fields,
    text_for_index,
)

VALID = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: Team: bob@example.test, =?utf-8?q?C=C3=A9?= <c@example.test>;\r\n"
    b"Subject: =?utf-8?b?w6k=?= Re: [x] plan\r\n"
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"caf=C3=A9\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"Content-Type: multipart/alternative; boundary=inner\r\n"
    b"\r\n"
    b"--inner\r\n"
    b"\r\n"
    b"plain\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html\r\n"
    b"\r\n"
    b"<p>html</p>\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf; name*0*=utf-8''%E2%82%AC; name*1=x.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="a.pdf"\r\n'
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--outer--\r\n"
    b"epilogue\r\n"
)

# Lines a message is made of, to build random but message-like inputs.
LINES = [
    b"",
    b"Subject: hi",
    b"From: a@b.test, (c) <d@e.test>",
    b"To: g: h@i.test;",
    b" folded continuation",
    b"Content-Type: multipart/mixed; boundary=b",
    b"Content-Type: multipart/digest; boundary=b",
    b"Content-Type: multipart/alternative; boundary=c",
    b"Content-Type: message/rfc822",
    b"Content-Type: text/plain; charset=utf-8",
    b"Content-Type: text/html",
    b'Content-Type: multipart/mixed; boundary*0=b; boundary*1=""',
    b"Content-Transfer-Encoding: base64",
    b"Content-Disposition: attachment; filename*=utf-8''%FF",
    b"--b",
    b"--b--",
    b"--c",
    b"--c--",
    b"--b  ",
    b"body text",
    b"\x00\xff\x80",
    b"no colon here",
    b"=?utf-8?q?x?=",
]


@st.composite
def message_like(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.sampled_from(LINES), max_size=60))
    endings = draw(st.lists(st.sampled_from([b"\r\n", b"\n", b"\r", b""]), min_size=len(lines), max_size=len(lines)))
    return b"".join(line + ending for line, ending in zip(lines, endings, strict=True))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "truncate"]))
        if operation == "delete":
            del data[position : position + draw(st.integers(1, 40))]
        elif operation == "insert":
            data[position:position] = draw(st.binary(max_size=20) | st.sampled_from(LINES))
        elif operation == "replace" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif operation == "duplicate":
            data[position:position] = data[position : position + draw(st.integers(1, 200))]
        elif operation == "truncate":
            del data[position:]
    return bytes(data)


def check_part(part: Part, raw: bytes, low: int, high: int, *, message_root: bool) -> None:
    assert low <= part.start <= part.header_end <= part.end <= high, part.section
    if part.lines is not None:
        assert part.lines >= 0
    for number, child in enumerate(part.children, 1):
        assert child.section == (f"{part.section}.{number}" if part.section else str(number))
        check_part(child, raw, part.header_end, part.end, message_root=False)
    if part.message is not None:
        assert (part.message.start, part.message.end) == (part.header_end, part.end)
        if message_root:
            assert part.message.section == (f"{part.section}.1" if part.section else "1")
        else:
            assert part.message.section == part.section
        assert part.envelope is not None
        check_part(part.message, raw, part.header_end, part.end, message_root=True)


def check(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert "parse_error" not in parsed.defects  # the catch-all fallback is for bugs, not for input
    assert parsed.size == len(raw)
    assert parsed.header_end == parsed.root.header_end
    assert (parsed.root.start, parsed.root.end) == (0, len(raw))
    check_part(parsed.root, raw, 0, len(raw), message_root=True)
    for part in parsed.walk():
        if part.section:
            found = find_part(parsed, part.section)
            assert found is not None
            # An encapsulated message shares its number with the message/rfc822 part it is the body of.
            assert found is part or found.message is part
    stored = json.loads(json.dumps(parsed.to_dict()))
    assert ParsedMessage.from_dict(stored) == parsed
    assert render_bodystructure(parsed).startswith(b"(")
    assert render_bodystructure(parsed, extensible=False).startswith(b"(")
    assert render_envelope(parsed.envelope).startswith(b"(")
    search_fields(parsed, raw)
    assert len(text_for_index(parsed, raw, limit=500)) <= 500


def test_the_valid_sample_parses_fully() -> None:
    parsed = parse_message(VALID)
    assert parsed.defects == ()
    assert [part.section for part in parsed.walk()] == ["", "1", "2", "2", "2.1", "2.2", "3"]
    check(VALID)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes(raw: bytes) -> None:
    check(raw)


@settings(max_examples=300, deadline=None)
@given(message_like())
def test_random_message_like_lines(raw: bytes) -> None:
    check(raw)


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_random_mutations_of_a_valid_message(raw: bytes) -> None:
    check(raw)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_random_header_text(text: str) -> None:
    for name in ("Subject", "From", "To", "Content-Type", "Content-Disposition", "Date", "References"):
        check(f"{name}: {text}\r\n\r\nbody".encode("utf-8", errors="surrogatepass"))
