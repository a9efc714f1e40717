"""WebSocket framing for SIP over WebSocket (RFC 7118, RFC 6455), without I/O.

Only what a SIP server needs: the opening handshake's reply (subprotocol
`sip` required, RFC 7118 section 4.1), frames from the client (masked, as RFC
6455 section 5.1 demands; fragments joined; ping answered with pong; close
answered and ended), and unmasked text frames to the client. Each whole
message is one SIP message (RFC 7118 section 5.2). Sizes are bounded by the
SIP message limit.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass, field

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(Exception):
    """The peer broke RFC 6455; the connection is closed (with `code` when one can be sent)."""

    def __init__(self, reason: str, code: int = 1002) -> None:
        super().__init__(reason)
        self.code = code


def handshake_reply(head: bytes) -> bytes:
    """The 101 answer to an HTTP upgrade request head (up to the empty line); WebSocketError if unusable."""
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("GET ") or not lines[0].endswith(" HTTP/1.1"):
        raise WebSocketError("not a WebSocket upgrade")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    if "websocket" not in fields.get("upgrade", "").lower() or not fields.get("sec-websocket-key"):
        raise WebSocketError("not a WebSocket upgrade")
    protocols = [p.strip().lower() for p in fields.get("sec-websocket-protocol", "").split(",")]
    if "sip" not in protocols:
        raise WebSocketError("the sip subprotocol is required (RFC 7118 section 4.1)")
    accept = base64.b64encode(hashlib.sha1((fields["sec-websocket-key"] + _GUID).encode()).digest()).decode()
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
    ).encode()


def frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One unmasked frame from the server (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


@dataclass
class FrameReader:
    """Client frames in, whole messages and control replies out."""

    max_message: int = 65535
    _buffer: bytearray = field(default_factory=bytearray)
    _fragments: bytearray = field(default_factory=bytearray)
    _fragmenting: bool = False
    closed: bool = False

    def receive(self, data: bytes) -> tuple[list[bytes], list[bytes]]:
        """(messages, frames to write back: pongs and the close reply)."""
        self._buffer.extend(data)
        messages: list[bytes] = []
        replies: list[bytes] = []
        while not self.closed:
            parsed = self._next_frame()
            if parsed is None:
                break
            fin, opcode, payload = parsed
            if opcode == PING:
                replies.append(frame(payload, PONG))
            elif opcode == PONG:
                continue
            elif opcode == CLOSE:
                replies.append(frame(payload[:2], CLOSE))
                self.closed = True
            elif opcode in (TEXT, BINARY, CONTINUATION):
                if (opcode == CONTINUATION) != self._fragmenting:
                    raise WebSocketError("bad fragment sequence")
                self._fragments.extend(payload)
                if len(self._fragments) > self.max_message:
                    raise WebSocketError("message too large", 1009)
                self._fragmenting = not fin
                if fin:
                    messages.append(bytes(self._fragments))
                    self._fragments.clear()
            else:
                raise WebSocketError(f"unknown opcode {opcode}")
        return messages, replies

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        fin, opcode, masked, length = buf[0] & 0x80, buf[0] & 0x0F, buf[1] & 0x80, buf[1] & 0x7F
        if buf[0] & 0x70:
            raise WebSocketError("reserved bits set")
        if not masked:
            raise WebSocketError("client frames must be masked (RFC 6455 section 5.1)")
        offset = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length = struct.unpack_from("!H", buf, 2)[0]
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length = struct.unpack_from("!Q", buf, 2)[0]
            offset = 10
        if length > self.max_message:
            raise WebSocketError("message too large", 1009)
        if opcode >= 0x8 and (length > 125 or not fin):
            raise WebSocketError("bad control frame")
        if len(buf) < offset + 4 + length:
            return None
        mask = buf[offset : offset + 4]
        start = offset + 4
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[start : start + length]))
        del buf[: start + length]
        return bool(fin), opcode, payload
