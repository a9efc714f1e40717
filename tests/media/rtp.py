"""Fake phones for the media tests: UDP sockets on loopback that send and receive RTP."""

from __future__ import annotations

import random
import socket
import struct
import time

from libs.testing.ports import LOOPBACK


def rtp_packet(seq: int, timestamp: int, ssrc: int, payload: bytes = b"\xff" * 160, pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt & 0x7F, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


def sdp(port: int, address: str = LOOPBACK, *, encoding: str = "PCMU", pt: int = 0) -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {encoding}/8000\r\na=sendrecv\r\n"
    )


def media_port(text: str) -> int:
    for line in text.splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise AssertionError(f"no audio stream in {text!r}")


class Phone:
    """One endpoint: a bound UDP socket that sends numbered RTP and collects what arrives."""

    def __init__(self, host: str = LOOPBACK) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)

    def send(self, relay_port: int, count: int = 1, *, payload: bytes = b"\xff" * 160) -> None:
        for _ in range(count):
            self.sock.sendto(rtp_packet(self.seq, self.ts, self.ssrc, payload), (LOOPBACK, relay_port))
            self.seq += 1
            self.ts += len(payload)

    def send_raw(self, relay_port: int, data: bytes) -> None:
        self.sock.sendto(data, (LOOPBACK, relay_port))

    def receive(self, expected: int, timeout: float = 2.0) -> list[tuple[bytes, tuple[str, int]]]:
        """Collect packets until `expected` arrived or `timeout` passed."""
        got: list[tuple[bytes, tuple[str, int]]] = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            try:
                got.append(self.sock.recvfrom(4096))
            except TimeoutError:
                continue
        return got

    def drain(self, quiet: float = 0.3) -> int:
        """Count what arrives until nothing has for `quiet` seconds."""
        count = 0
        self.sock.settimeout(quiet)
        try:
            while True:
                self.sock.recvfrom(4096)
                count += 1
        except TimeoutError:
            return count
        finally:
            self.sock.settimeout(0.05)

    def close(self) -> None:
        self.sock.close()
