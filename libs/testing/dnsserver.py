"""A tiny authoritative DNS server on loopback UDP for tests (SPF, DKIM and MX records).

Built with dnspython's message API; it answers from a dict and runs in a
daemon thread, so tests in the same process and service processes started by
them (via `PARLEY_SMTP_DNS_SERVERS=127.0.0.1:<port>`) can both use it. It
never reaches the Internet: unknown names get NXDOMAIN.

    with DnsServer() as dns_server:
        dns_server.txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
        dns_server.drop("slow.test")          # no answer at all: a timeout
"""

from __future__ import annotations

import socket
import threading
from collections import defaultdict

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from libs.testing.ports import LOOPBACK


def _strings(text: str | bytes) -> list[bytes]:
    data = text.encode() if isinstance(text, str) else text
    return [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]


class DnsServer:
    def __init__(self, host: str = LOOPBACK) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.2)
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        self._records: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._dropped: set[str] = set()
        self._servfail: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-dns", daemon=True)
        self.queries: list[tuple[str, str]] = []

    @property
    def address(self) -> str:
        """The `host:port` form of `PARLEY_SMTP_DNS_SERVERS`."""
        return f"{self.host}:{self.port}"

    # --- zone ---------------------------------------------------------------------------

    def txt(self, name: str, *texts: str) -> None:
        """Replace the TXT records of `name`; each text is split into 255-byte strings."""
        self._records[(_key(name), "TXT")] = [
            " ".join('"' + s.decode("latin-1").replace("\\", "\\\\").replace('"', '\\"') + '"' for s in _strings(t))
            for t in texts
        ]

    def a(self, name: str, *addresses: str) -> None:
        self._records[(_key(name), "A")] = list(addresses)

    def mx(self, name: str, *records: str) -> None:
        """Replace the MX records of `name`, each as "preference exchange" ("0 ." is a null MX)."""
        self._records[(_key(name), "MX")] = list(records)

    def drop(self, name: str) -> None:
        """Never answer queries for `name` (the client times out)."""
        self._dropped.add(_key(name))

    def servfail(self, name: str) -> None:
        self._servfail.add(_key(name))

    # --- serving ------------------------------------------------------------------------

    def start(self) -> DnsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, client = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                answer = self._answer(wire)
            except Exception:  # malformed query: drop it, as a real server may
                continue
            if answer is not None:
                self._sock.sendto(answer, client)

    def _answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = _key(question.name.to_text())
        qtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, qtype))
        if name in self._dropped:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self._servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        values = self._records.get((name, qtype))
        if values:
            response.answer.append(
                dns.rrset.from_text_list(question.name, 300, dns.rdataclass.IN, question.rdtype, values)
            )
        elif not any(key[0] == name for key in self._records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire(max_size=65535)


def _key(name: str) -> str:
    return name.lower().rstrip(".")
