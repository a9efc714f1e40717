"""Account names as NATS subject tokens and KV keys."""

import re

from hypothesis import given
from hypothesis import strategies as st

from libs.bus.subjects import decode_token, encode_token


def test_dots_and_wildcards_never_appear_raw() -> None:
    token = encode_token("first.last+x@example.test")
    assert token == "first=2Elast=2Bx=40example=2Etest"
    for ch in ".*> \t":
        assert ch not in encode_token(f"a{ch}b@c.d")


def test_utf8_names_round_trip() -> None:
    assert decode_token(encode_token("jörg@bücher.example")) == "jörg@bücher.example"


@given(st.text(min_size=0, max_size=80))
def test_any_text_gives_a_safe_token_that_decodes_back(value: str) -> None:
    token = encode_token(value)
    assert token
    assert re.fullmatch(r"[-_=A-Za-z0-9]+", token)  # valid as a subject token and as a KV key
    assert decode_token(token) == value.lower()
