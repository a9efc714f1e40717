"""Modified UTF-7 (RFC 3501 section 5.1.3): the RFC's example, round trips, and refusals."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.imap.protocol import mutf7


def test_rfc3501_example() -> None:
    assert mutf7.decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-") == "~peter/mail/台北/日本語"
    assert mutf7.encode("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("INBOX", "INBOX"),
        ("&", "&-"),
        ("Tom & Jerry", "Tom &- Jerry"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("Gelöschte Elemente", "Gel&APY-schte Elemente"),
        ("\U0001f600", "&2D3eAA-"),
        ("", ""),
    ],
)
def test_known_encodings(text: str, encoded: str) -> None:
    assert mutf7.encode(text) == encoded
    assert mutf7.decode(encoded) == text


@pytest.mark.parametrize(
    "bad",
    [
        "&U,BTFw",  # unterminated
        "&AOQ-&APY-",  # two adjacent encoded runs (must be "&AOQA9g-")
        "&AEE-",  # "A" is printable ASCII and must not be encoded
        "&Jjo!-",  # not base64
        "&AGF-",  # non-zero padding bits
        "&2D0-",  # lone surrogate
        "caf\u00e9",  # raw non-ASCII
        "tab\there",  # control character
        "&A-",  # not whole UTF-16 units
    ],
)
def test_invalid_names_are_refused(bad: str) -> None:
    with pytest.raises(mutf7.InvalidModifiedUtf7):
        mutf7.decode(bad)


@settings(deadline=None)  # no timing assertions: the machine may be busy
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",))))
def test_round_trip(text: str) -> None:
    assert mutf7.decode(mutf7.encode(text)) == text


@settings(deadline=None)  # no timing assertions: the machine may be busy
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_decode_never_raises_anything_else(text: str) -> None:
    try:
        decoded = mutf7.decode(text)
    except mutf7.InvalidModifiedUtf7:
        return
    # Strict decoding means one spelling per name.
    assert mutf7.encode(decoded) == text
