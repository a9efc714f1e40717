"""COMPRESS=DEFLATE as a libs.net stream filter (RFC 4978): raw deflate, bounded inflation."""

from __future__ import annotations

import zlib

import pytest

from libs.net import READ_SIZE, Connection, Deflate, Listener, ReadTimeout, StreamCorrupt


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


class FakeTransport:
    """Just enough of an asyncio transport for a `Connection` fed by hand."""

    def __init__(self) -> None:
        self.paused = False
        self.aborted = False
        self.written = b""

    def get_extra_info(self, name: str) -> object:
        return ("192.0.2.1", 1143) if name == "peername" else None

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True


def fed_connection() -> tuple[Connection[None], FakeTransport]:
    transport = FakeTransport()
    connection: Connection[None] = Connection(
        listener=Listener("imap", 0, None), transport=transport,  # type: ignore[arg-type]
        protocol=None, session_id="test",  # type: ignore[arg-type]
    )  # fmt: skip
    return connection, transport


async def test_a_bomb_through_a_connection_is_read_a_bounded_piece_at_a_time() -> None:
    connection, transport = fed_connection()
    connection.add_filter(Deflate())
    size = 20 * 1024 * 1024
    connection._received(client_compress(b"A" * size))  # what the protocol below calls
    assert connection.buffered <= READ_SIZE  # not 20 MiB
    total = 0
    while total < size:
        piece = await connection.read(timeout=1.0)
        assert 0 < len(piece) <= READ_SIZE
        assert connection.buffered <= READ_SIZE
        total += len(piece)
    assert total == size
    with pytest.raises(ReadTimeout):
        await connection.read(timeout=0.01)


async def test_already_received_compressed_bytes_come_first() -> None:
    connection, transport = fed_connection()
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = compressor.compress(b"a1 NOOP\r\na2 LOGOUT\r\n") + compressor.flush(zlib.Z_SYNC_FLUSH)
    connection._received(stream[5:])  # in the connection's buffer when the filter starts
    connection.add_filter(Deflate(), already_received=stream[:5])  # held by the protocol core
    assert await connection.read(timeout=1.0) == b"a1 NOOP\r\na2 LOGOUT\r\n"
    await connection.write(b"* BYE\r\n", timeout=1.0)
    assert zlib.decompressobj(-15).decompress(transport.written) == b"* BYE\r\n"


async def test_a_corrupt_stream_ends_the_connection() -> None:
    connection, transport = fed_connection()
    connection.add_filter(Deflate())
    connection._received(b"\xff\xff\xff\xff not deflate")
    assert transport.aborted
    with pytest.raises(StreamCorrupt):
        await connection.read(timeout=1.0)
