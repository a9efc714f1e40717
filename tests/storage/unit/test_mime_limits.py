"""Bounded work: deep nesting, many parts, long headers and a 50 MB line parse quickly and safely."""

import json
import time
import tracemalloc

from services.storage.mime import (
    DEFAULT_LIMITS,
    Limits,
    ParsedMessage,
    find_part,
    parse_message,
    render_bodystructure,
    search_fields,
    text_for_index,
)

FIFTY_MB = 50 * 1024 * 1024


def nested_multiparts(levels: int) -> bytes:
    inner = b"Content-Type: text/plain\r\n\r\ninnermost"
    for level in reversed(range(levels)):
        head = b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (level, level)
        inner = head + inner + b"\r\n--b%d--" % level
    return b"Subject: deep\r\n" + inner + b"\r\n"


def nested_messages(levels: int) -> bytes:
    inner = b"Subject: innermost\r\n\r\ninnermost"
    for level in reversed(range(levels)):
        inner = b"Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n" % level + inner
    return inner


def test_multipart_nested_one_hundred_deep() -> None:
    raw = nested_multiparts(100)
    parsed = parse_message(raw)
    assert parsed.defects == ()
    leaf = find_part(parsed, ".".join(["1"] * 100))
    assert leaf is not None and leaf.content_type == "text/plain"
    assert raw[leaf.header_end : leaf.end] == b"innermost"
    assert ParsedMessage.from_dict(json.loads(json.dumps(parsed.to_dict()))) == parsed
    assert render_bodystructure(parsed).count(b'"MIXED"') == 100


def test_multipart_nested_deeper_than_the_limit_becomes_a_leaf() -> None:
    raw = nested_multiparts(1000)
    parsed = parse_message(raw)
    assert "depth_limit" in parsed.defects
    deepest = find_part(parsed, ".".join(["1"] * DEFAULT_LIMITS.max_depth))
    assert deepest is not None and deepest.content_type == "multipart/mixed" and deepest.children == ()
    assert find_part(parsed, ".".join(["1"] * (DEFAULT_LIMITS.max_depth + 1))) is None
    assert deepest.end <= len(raw)
    structure = render_bodystructure(parsed)
    assert structure.count(b"(") == structure.count(b")")
    assert ParsedMessage.from_dict(json.loads(json.dumps(parsed.to_dict()))) == parsed


def test_message_rfc822_nested_one_hundred_deep() -> None:
    raw = nested_messages(100)
    parsed = parse_message(raw)
    assert parsed.defects == ()
    # "1" is the top-level body; each further ".1" enters one more encapsulated message.
    leaf = find_part(parsed, ".".join(["1"] * 101))
    assert leaf is not None and leaf.content_type == "text/plain"
    assert raw[leaf.header_end : leaf.end] == b"innermost"
    part = parsed.root
    for level in range(1, 100):
        assert part.message is not None and part.envelope is not None
        assert part.envelope.subject == f"level {level}"
        assert part.message.section == ".".join(["1"] * level)
        part = part.message
    assert part.envelope is not None and part.envelope.subject == "innermost"
    assert ParsedMessage.from_dict(json.loads(json.dumps(parsed.to_dict()))) == parsed
    assert render_bodystructure(parsed).count(b'"RFC822"') == 100


def test_message_rfc822_nested_deeper_than_the_limit() -> None:
    parsed = parse_message(nested_messages(5000))
    assert "depth_limit" in parsed.defects
    depth = 0
    part = parsed.root
    while part.message is not None:
        part = part.message
        depth += 1
    assert depth == DEFAULT_LIMITS.max_depth
    structure = render_bodystructure(parsed)
    assert structure.count(b"(") == structure.count(b")")


def test_number_of_parts_is_limited() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=p\r\n\r\n" + b"--p\r\n\r\nx\r\n" * 50_000 + b"--p--\r\n"
    started = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - started < 10
    assert "part_limit" in parsed.defects
    assert sum(1 for _ in parsed.walk()) == DEFAULT_LIMITS.max_parts
    last = parsed.root.children[-1]
    assert raw[last.header_end : last.end] == b"x"
    small = parse_message(raw, limits=Limits(max_parts=10))
    assert len(small.root.children) == 9


def test_long_headers_are_bounded() -> None:
    raw = b"X-Filler: y\r\n" * 100_000 + b"Subject: too late\r\n\r\nbody"
    parsed = parse_message(raw)
    assert "header_line_limit" in parsed.defects
    assert raw[parsed.header_end :] == b"body"
    assert parsed.envelope.subject is None  # past the interpreted lines


def test_fifty_megabyte_single_line_body() -> None:
    raw = b"Subject: big\r\nContent-Type: text/plain\r\n\r\n" + b"a" * FIFTY_MB
    tracemalloc.start()
    started = time.perf_counter()
    parsed = parse_message(raw)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 10
    assert peak < 5 * 1024 * 1024  # no copy of the body, no list of lines
    assert (parsed.root.size, parsed.root.lines) == (FIFTY_MB, 1)
    assert len(text_for_index(parsed, raw, limit=1000)) == 1000


def test_fifty_megabyte_single_line_header() -> None:
    raw = b"Subject: " + b"s" * FIFTY_MB + b"\r\nFrom: a@example.test\r\n\r\nbody"
    tracemalloc.start()
    started = time.perf_counter()
    parsed = parse_message(raw)
    fields = search_fields(parsed, raw)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 10
    assert peak < 20 * 1024 * 1024
    assert parsed.envelope.subject is not None
    assert len(parsed.envelope.subject) == DEFAULT_LIMITS.max_field_bytes - 1  # the cap counts the leading space
    assert parsed.envelope.from_[0].mailbox == "a"
    assert raw[parsed.header_end :] == b"body"
    assert fields.subject.startswith("sss")


def test_fifty_megabyte_line_full_of_boundary_lookalikes() -> None:
    line = b"x--b" * (FIFTY_MB // 4)
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n" + line + b"\r\n--b--\r\n"
    started = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - started < 10
    (part,) = parsed.root.children
    assert part.size == len(line)


def test_header_lines_are_bounded_over_the_whole_message() -> None:
    part = b"--p\r\n" + b"X-A: b\r\n" * 4_000 + b"\r\nx\r\n"
    raw = b"Content-Type: multipart/mixed; boundary=p\r\n\r\n" + part * 2_000 + b"--p--\r\n"
    started = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - started < 10
    assert "header_line_limit" in parsed.defects
    assert len(parsed.root.children) == 2_000
    assert all(raw[child.header_end : child.end] == b"x" for child in parsed.root.children)


def test_header_after_the_line_budget_still_finds_the_body() -> None:
    raw = b"Subject: a\r\nX: 1\r\n\r\nbody"
    parsed = parse_message(raw, limits=Limits(max_total_header_lines=0))
    assert raw[parsed.header_end :] == b"body"
    assert parsed.envelope.subject is None
    empty_header = parse_message(b"\r\nbody", limits=Limits(max_total_header_lines=0))
    assert empty_header.header_end == 2
