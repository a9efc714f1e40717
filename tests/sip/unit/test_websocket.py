"""WebSocket framing for SIP over WebSocket (RFC 6455, RFC 7118) without I/O."""

from __future__ import annotations

import os
import struct

import pytest

from services.sip._websocket import CLOSE, PING, PONG, TEXT, FrameReader, WebSocketError, frame, handshake_reply


def client_frame(payload: bytes, opcode: int = TEXT, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    header = struct.pack("!BB", first, 0x80 | n) if n < 126 else struct.pack("!BBH", first, 0x80 | 126, n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_handshake_needs_the_sip_subprotocol() -> None:
    head = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")  # fmt: skip
    with pytest.raises(WebSocketError):
        handshake_reply(head)
    reply = handshake_reply(head + b"Sec-WebSocket-Protocol: sip\r\n")
    assert b"101" in reply and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in reply and b"Sec-WebSocket-Protocol: sip" in reply


def test_messages_fragments_and_control_frames() -> None:
    data = client_frame(b"OPTIONS ", fin=False) + client_frame(b"sip:x SIP/2.0", opcode=0) + client_frame(b"hi", PING)
    byte_by_byte = FrameReader()
    got: list[bytes] = []
    for i in range(len(data)):
        got += byte_by_byte.receive(data[i : i + 1])[0]
    assert got == [b"OPTIONS sip:x SIP/2.0"]
    reader2 = FrameReader()
    messages, replies = reader2.receive(data)
    assert messages == [b"OPTIONS sip:x SIP/2.0"] and replies == [frame(b"hi", PONG)]
    _, replies = reader2.receive(client_frame(b"\x03\xe8", CLOSE))
    assert replies == [frame(b"\x03\xe8", CLOSE)] and reader2.closed


def test_unmasked_or_oversize_frames_are_refused() -> None:
    with pytest.raises(WebSocketError):
        FrameReader().receive(frame(b"unmasked"))
    with pytest.raises(WebSocketError):
        FrameReader(max_message=10).receive(client_frame(b"x" * 11))
