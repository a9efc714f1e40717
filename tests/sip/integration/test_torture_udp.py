"""RFC 4475 over UDP against the running service: refusals get their status, and the service stays up.

Valid-but-strange messages carry Via sent-by addresses of the RFC's examples,
so their answers go there (section 18.2.2), not back to this socket; what the
test checks for them is that nothing breaks. Invalid requests are answered
to the source address with the status RFC 4475 names.
"""

from __future__ import annotations

import socket
import time

import httpx

from tests.sip.integration.conftest import SipSuite
from tests.sip.unit.test_torture import CORPUS, INVALID, VALID


def exchange(sock: socket.socket, data: bytes, target: tuple[str, int], wait: float = 1.5) -> list[bytes]:
    sock.sendto(data, target)
    got = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recvfrom(65536)[0])
            break
        except TimeoutError:
            break
    return got


def test_torture_corpus_over_udp(sip_suite: SipSuite) -> None:
    target = ("127.0.0.1", sip_suite.sip.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for name, (section, status, can_reply) in INVALID.items():
            replies = exchange(sock, (CORPUS / f"{name}.dat").read_bytes(), target, wait=1.0 if can_reply else 0.3)
            if can_reply:
                assert replies, f"{name} ({section}): no answer"
                # The answer copies the fields as received, malformed ones included: read the status line.
                assert replies[0].startswith(f"SIP/2.0 {status} ".encode()), f"{name}: {replies[0][:40]!r}"
            else:
                assert not replies, f"{name} ({section}) must be dropped"
        for name in VALID:
            sock.sendto((CORPUS / f"{name}.dat").read_bytes(), target)
        time.sleep(0.5)
        options = (
            "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{sock.getsockname()[1]};branch=z9hG4bKtorture1;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:probe@example.test>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
            "Call-ID: torture-alive\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        sock.sendto(options, target)
        sock.settimeout(3)
        reply = b""
        while b"torture-alive" not in reply:  # skip anything else still arriving
            reply = sock.recvfrom(65536)[0]
        assert reply.startswith(b"SIP/2.0 200"), reply
    assert httpx.get(f"http://127.0.0.1:{sip_suite.sip.ops_port}/healthz").status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{sip_suite.sip.ops_port}/metrics").text
    malformed = next(line for line in metrics.splitlines() if line.startswith("parley_sip_messages_malformed_total"))
    assert float(malformed.split()[-1]) >= len([n for n, (_, _, reply) in INVALID.items() if reply])
    assert 'parley_sip_requests_total{method="OPTIONS"}' in metrics
    assert sip_suite.sip.process.process is not None and sip_suite.sip.process.process.poll() is None
