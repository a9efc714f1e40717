"""A relay workload for the memory checker: every native entry point, valid and hostile packets.

Run as a script (under valgrind by test_memcheck.py); exits non-zero if the relay misbehaves.
It imports only the extension and the standard library, so the checked process stays small.
"""

from __future__ import annotations

import socket
import struct
import time

from services.media import _relay


def bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    return sock


def rtp(seq: int, ssrc: int = 1, payload: bytes = b"\xff" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, ssrc) + payload


def drain(sock: socket.socket, count: int) -> int:
    got = 0
    try:
        while got < count:
            sock.recvfrom(4096)
            got += 1
    except TimeoutError:
        pass
    return got


def main() -> None:
    relay = _relay.Relay()
    relay.start()
    ports = [bound() for _ in range(4)]
    phone_a, phone_b, intruder = bound(), bound(), bound()
    a, b = relay.add(ports[0].fileno()), relay.add(ports[1].fileno(), clock_rate=16000, relatch_ms=100)
    a_rtcp, b_rtcp = relay.add(ports[2].fileno(), rtcp=True), relay.add(ports[3].fileno(), rtcp=True)
    a_port = ports[0].getsockname()[1]
    for sock in ports:
        sock.close()  # the relay keeps its own descriptors
    relay.link(a, b)
    relay.link(a_rtcp, b_rtcp)
    relay.target(a, "127.0.0.1", phone_a.getsockname()[1], latch_ip="127.0.0.1")
    relay.target(b, "127.0.0.1", phone_b.getsockname()[1])
    relay.target(a_rtcp, "::1", 9, symmetric=False)
    received = 0
    for seq in range(200):
        phone_a.sendto(rtp(seq if seq % 17 else seq + 5), ("127.0.0.1", a_port))
        if seq % 20 == 19:  # in bursts a socket buffer can take
            received += drain(phone_b, 20)
    junk = (
        b"",
        b"\x80",
        b"\x00" * 40,
        b"\x90" + b"\x00" * 11,
        b"\x8f" + b"\x00" * 20,
        b"\xa0" + b"\x00" * 11,
        b"x" * 4000,
    )
    for junk_packet in junk:
        phone_a.sendto(junk_packet, ("127.0.0.1", a_port))
    intruder.sendto(rtp(1, ssrc=9), ("127.0.0.1", a_port))
    relay.record(a, True)
    for seq in range(200, 260):
        phone_a.sendto(rtp(seq, payload=bytes(range(160))), ("127.0.0.1", a_port))
        if seq % 20 == 19:
            received += drain(phone_b, 20)
    assert received == 260, received
    recorded = relay.record(a, False)
    assert recorded and len(recorded) % 160 == 0, len(recorded or b"")
    relay.play(b, b"\x01" * 500, 8)
    relay.play(b, b"\x02" * 320, 0, frame_bytes=160)  # replaces the queued prompt
    time.sleep(0.1)
    stats = relay.stats(a)
    assert stats["malformed"] == len(junk) and stats["foreign"] == 1, stats
    for bad in (lambda: relay.stats(999), lambda: relay.link(a, 999), lambda: relay.remove(999)):
        try:
            bad()
        except KeyError:
            pass
        else:
            raise AssertionError("unknown leg accepted")
    try:
        relay.target(a, "not an address", 1)
    except ValueError:
        pass
    pcm = struct.pack("<6h", 0, 1, -1, 32767, -32768, 1234)
    for encode, decode in ((_relay.ulaw_encode, _relay.ulaw_decode), (_relay.alaw_encode, _relay.alaw_decode)):
        assert len(decode(encode(pcm))) == len(pcm)
    relay.remove(a)
    relay.remove(a_rtcp)
    relay.close()  # closes b and b_rtcp, stops the thread
    other = _relay.Relay()
    other.start()
    spare = bound()
    other.add(spare.fileno())
    spare.close()
    del other  # dealloc stops a running thread and frees its legs
    print("workload ok")


if __name__ == "__main__":
    main()
