"""A flood of requests from one address gets 503 with Retry-After; other addresses are served."""

from __future__ import annotations

import socket
import time

from tests.sip.integration.conftest import SipSuite

SIP_ENV = {"PARLEY_SIP_CLIENT_RATE": "2", "PARLEY_SIP_CLIENT_BURST": "5"}


def options(port: int, n: int, host: str = "127.0.0.1") -> bytes:
    return (
        f"OPTIONS sip:{host} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bKflood{n};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:flood@example.test>;tag={n}\r\nTo: <sip:{host}>\r\n"
        f"Call-ID: flood-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_flood_from_one_address_is_refused(sip_suite: SipSuite) -> None:
    target = ("127.0.0.1", sip_suite.sip.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        for n in range(20):
            sock.sendto(options(port, n), target)
        statuses = []
        sock.settimeout(2)
        deadline = time.monotonic() + 5
        while len(statuses) < 20 and time.monotonic() < deadline:
            reply = sock.recvfrom(65536)[0]
            statuses.append(int(reply.split(b" ", 2)[1]))
            if statuses[-1] == 503:
                assert b"Retry-After: 5" in reply
    assert statuses.count(200) >= 5 and statuses.count(503) >= 10, statuses
    # Another source address (IPv6 loopback) has its own allowance.
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 0))
        sock.settimeout(3)
        sock.sendto(options(sock.getsockname()[1], 99, "[::1]"), ("::1", sip_suite.sip.port))
        assert sock.recvfrom(65536)[0].startswith(b"SIP/2.0 200")
