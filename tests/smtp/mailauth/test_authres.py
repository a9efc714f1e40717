"""Authentication-Results: our field, and forged fields claiming our authserv-id removed (RFC 8601 5)."""

from __future__ import annotations

import pytest

from services.smtp._authres import MAX_HELD_FIELD, ForeignResultsFilter, authentication_results, claimed_authserv_id

ME = "mx.example.test"


def filtered(content: bytes, *, piece: int | None = None) -> bytes:
    f = ForeignResultsFilter(ME)
    if piece is None:
        return f.feed(content) + f.flush()
    return b"".join(f.feed(content[i : i + piece]) for i in range(0, len(content), piece)) + f.flush()


def test_our_field_is_folded_one_result_a_line() -> None:
    field = authentication_results(ME, ["spf=pass smtp.mailfrom=a@b.test", "dkim=none"])
    assert field == (
        b"Authentication-Results: mx.example.test;\r\n\tspf=pass smtp.mailfrom=a@b.test;\r\n\tdkim=none\r\n"
    )
    assert authentication_results(ME, []) == b"Authentication-Results: mx.example.test; none\r\n"


@pytest.mark.parametrize(
    ("field", "authserv_id"),
    [
        (b"Authentication-Results: mx.example.test; spf=pass", ME),
        (b"authentication-results:MX.Example.Test.;dkim=pass", ME),
        (b"Authentication-Results: (comment) mx.example.test 1; none", ME),
        (b"Authentication-Results:\r\n\tmx.example.test;\r\n\tspf=pass", ME),
        (b"Authentication-Results: other.test; spf=pass", "other.test"),
        (b"Authentication-Results: ", ""),
        (b"Authentication-Results", ""),
    ],
)
def test_claimed_authserv_id(field: bytes, authserv_id: str) -> None:
    assert claimed_authserv_id(field) == authserv_id


BODY = b"Authentication-Results: mx.example.test; spf=pass\r\nnot a header in the body\r\n"
MESSAGE = (
    b"Received: from a by b; Thu, 26 Nov 2026 06:00:00 +0000\r\n"
    b"Authentication-Results: mx.example.test;\r\n\tdkim=pass header.d=bank.test\r\n"
    b"Authentication-Results: other.test; dkim=fail\r\n"
    b"Subject: hi\r\n"
    b"authentication-results:\r\n MX.EXAMPLE.TEST; spf=pass\r\n"
    b"From: a@b.test\r\n"
    b"\r\n" + BODY
)
EXPECTED = (
    b"Received: from a by b; Thu, 26 Nov 2026 06:00:00 +0000\r\n"
    b"Authentication-Results: other.test; dkim=fail\r\n"
    b"Subject: hi\r\n"
    b"From: a@b.test\r\n"
    b"\r\n" + BODY
)


@pytest.mark.parametrize("piece", [None, 1, 2, 7, 64])
def test_fields_claiming_us_are_removed_however_content_is_split(piece: int | None) -> None:
    assert filtered(MESSAGE, piece=piece) == EXPECTED


def test_counts_what_it_removed() -> None:
    f = ForeignResultsFilter(ME)
    f.feed(MESSAGE)
    f.flush()
    assert f.removed == 2


def test_message_ending_in_a_held_field() -> None:
    assert filtered(b"Subject: x\r\nAuthentication-Results: mx.example.test; none\r\n") == b"Subject: x\r\n"
    assert filtered(b"Subject: x\r\nAuthentication-Results: other; none") == (
        b"Subject: x\r\nAuthentication-Results: other; none"
    )


def test_huge_forged_field_is_dropped_whole() -> None:
    huge = b"Authentication-Results: mx.example.test;\r\n" + b"\tspf=pass\r\n" * (MAX_HELD_FIELD // 8)
    assert filtered(b"A: 1\r\n" + huge + b"B: 2\r\n\r\nbody") == b"A: 1\r\nB: 2\r\n\r\nbody"
    other = b"Authentication-Results: other.test;\r\n" + b"\tspf=pass\r\n" * (MAX_HELD_FIELD // 8)
    assert filtered(other + b"B: 2\r\n\r\nbody") == b"B: 2\r\n\r\nbody"  # too long to keep: dropped as well


def test_content_without_line_ends_passes() -> None:
    blob = b"x" * (MAX_HELD_FIELD + 10)
    assert filtered(blob, piece=4096) == blob


def test_bare_lf_header_section() -> None:
    assert filtered(b"Authentication-Results: mx.example.test; none\nA: 1\n\nbody") == b"A: 1\n\nbody"
