"""COMPRESS=DEFLATE as a libs.net stream filter (RFC 4978): raw deflate, bounded inflation."""

from __future__ import annotations

import zlib

import pytest

from libs.net import Deflate, StreamCorrupt


def client_compress(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def drain(stream: Deflate, data: bytes) -> bytes:
    """Everything `data` decodes to, pulling what the filter held back as a connection does."""
    out = stream.decode(data)
    while piece := stream.decode(b""):
        out += piece
    return out


def test_round_trip_is_raw_deflate_flushed_per_write() -> None:
    server = Deflate()
    inflate = zlib.decompressobj(-15)  # a client: raw deflate, no zlib header
    for response in (b"* OK compressed\r\n", b"a1 OK done\r\n"):
        # Each write is complete on its own (sync flush): the client reads it without more.
        assert inflate.decompress(server.encode(response)) == response
    assert server.decode(client_compress(b"a2 NOOP\r\n")) == b"a2 NOOP\r\n"


def test_input_split_anywhere_decodes_to_the_same_bytes() -> None:
    text = b"".join(b"a%d FETCH 1:* (FLAGS)\r\n" % n for n in range(200))
    compressed = client_compress(text)
    for size in (1, 7, 100, len(compressed)):
        stream = Deflate()
        out = b"".join(stream.decode(compressed[i : i + size]) for i in range(0, len(compressed), size))
        assert out + drain(stream, b"") == text


def test_a_bomb_inflates_a_bounded_piece_at_a_time() -> None:
    bomb = client_compress(b"\0" * (50 * 1024 * 1024))  # about 50 KiB that inflates to 50 MiB
    stream = Deflate(max_output=64 * 1024)
    first = stream.decode(bomb)
    assert len(first) == 64 * 1024
    assert stream.backlog > 0
    total = len(first)
    while piece := stream.decode(b""):
        assert len(piece) <= 64 * 1024
        total += len(piece)
    assert total == 50 * 1024 * 1024
    assert stream.backlog == 0


def test_corrupt_input_raises_stream_corrupt() -> None:
    with pytest.raises(StreamCorrupt):
        Deflate().decode(b"\xff\xff\xff\xff not deflate")
