"""A minimal SIP user agent for the integration tests: raw messages over UDP or TCP.

It writes requests by hand (so the tests show the wire), answers digest
challenges, and collects what the proxy sends it (requests to this UA, and
responses to its requests) so a test can wait for one and answer it.
"""

from __future__ import annotations

import hashlib
import queue
import secrets
import socket
import ssl
import threading
import time

from services.sip.protocol import (
    NEED_DATA,
    MessageFramed,
    Request,
    Response,
    StreamFramer,
    parse_message,
    response_destination,
)


def _h(algorithm: str, text: str) -> str:
    return hashlib.new("sha256" if algorithm.upper().startswith("SHA-256") else "md5", text.encode()).hexdigest()


class UA:
    def __init__(self, user: str, domain: str, password: str, *, proxy: tuple[str, int], transport: str = "UDP",
                 host: str = "127.0.0.1") -> None:  # fmt: skip
        self.user, self.domain, self.password = user, domain, password
        self.proxy = proxy
        self.transport = transport
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.inbox: queue.Queue[Request | Response] = queue.Queue()
        self._stop = False
        # One TLS connection must not read and write from two threads at once (OpenSSL
        # objects are not thread-safe): the reader and senders take turns, in short slices.
        self._wire = threading.Lock()
        if transport == "UDP":
            self.sock = socket.socket(family, socket.SOCK_DGRAM)
            self.sock.bind((host, 0))
        elif transport == "TLS":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the service's self-signed certificate
            self.sock = context.wrap_socket(socket.create_connection(proxy, timeout=5))
        elif transport == "WS":
            self.sock = socket.create_connection(proxy, timeout=5)
            self.sock.sendall(
                f"GET / HTTP/1.1\r\nHost: {proxy[0]}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: sip\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                head += self.sock.recv(1)
            assert head.startswith(b"HTTP/1.1 101"), head
        else:
            self.sock = socket.create_connection(proxy, timeout=5)
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2 if transport == "UDP" else 0.05)
        self.cseq = 0
        self.call_id = secrets.token_hex(8)
        self.tag = secrets.token_hex(4)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    # -- wire ---------------------------------------------------------------
    def _read(self) -> None:
        if self.transport == "WS":
            return self._read_ws()
        framer = StreamFramer()
        while not self._stop:
            try:
                if self.transport == "UDP":
                    data, _ = self.sock.recvfrom(65536)
                    chunks = [data]
                else:
                    with self._wire:
                        data = self.sock.recv(65536)
                    if not data:
                        return
                    framer.receive_data(data)
                    chunks = []
                    while (event := framer.next_event()) is not NEED_DATA:
                        if isinstance(event, MessageFramed):
                            chunks.append(event.data)
            except TimeoutError:
                continue
            except ssl.SSLWantReadError:
                continue
            except OSError:
                return
            for chunk in chunks:
                try:
                    self.inbox.put(parse_message(chunk))
                except Exception:  # noqa: BLE001
                    continue

    def _read_ws(self) -> None:
        buffer = b""
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            buffer += data
            while len(buffer) >= 2:  # server frames: unmasked (RFC 6455 section 5.1)
                length, offset = buffer[1] & 0x7F, 2
                if length == 126:
                    if len(buffer) < 4:
                        break
                    length, offset = int.from_bytes(buffer[2:4], "big"), 4
                if len(buffer) < offset + length:
                    break
                payload, buffer = buffer[offset : offset + length], buffer[offset + length :]
                try:
                    self.inbox.put(parse_message(payload))
                except Exception:  # noqa: BLE001
                    continue

    def send_raw(self, data: bytes) -> None:
        if self.transport == "WS":
            mask = secrets.token_bytes(4)
            n = len(data)
            header = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
            self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
            return
        if self.transport == "UDP":
            self.sock.sendto(data, self.proxy)
        else:
            with self._wire:
                self.sock.sendall(data)

    def close(self) -> None:
        self._stop = True
        with self._wire:
            self.sock.close()

    @property
    def hostport(self) -> str:
        if self.transport == "WS":
            return f"ws{self.port}.invalid"  # RFC 7118 section 5.2: the client has no reachable address
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def contact(self) -> str:
        t = "" if self.transport == "UDP" else f";transport={self.transport.lower()}"
        return f"sip:{self.user}@{self.hostport}{t}"

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    def via(self, branch: str | None = None) -> str:
        return f"SIP/2.0/{self.transport} {self.hostport};branch={branch or 'z9hG4bK' + secrets.token_hex(8)};rport"

    # -- requests ------------------------------------------------------------
    def request(self, method: str, uri: str, *, to: str | None = None, headers: list[str] | None = None,
                body: bytes = b"", call_id: str | None = None, cseq: int | None = None, branch: str | None = None,
                from_tag: str | None = None, to_tag: str | None = None) -> bytes:  # fmt: skip
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: {self.via(branch)}",
            "Max-Forwards: 70",
            f"From: <{self.aor}>;tag={from_tag or self.tag}",
            f"To: <{to or self.aor}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id or self.call_id}",
            f"CSeq: {cseq} {method}",
            *(headers or []),
            f"Content-Length: {len(body)}",
            "",
            "",
        ]
        data = "\r\n".join(lines).encode() + body
        self.send_raw(data)
        return data

    def expect(self, predicate=lambda m: True, timeout: float = 5.0) -> Request | Response:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching SIP message arrived")
            try:
                message = self.inbox.get(timeout=left)
            except queue.Empty:
                continue
            if predicate(message):
                return message

    def final(self, method: str, timeout: float = 5.0) -> Response:
        msg = self.expect(lambda m: isinstance(m, Response) and m.status >= 200 and m.cseq.method == method, timeout)
        assert isinstance(msg, Response)
        return msg

    def authorization(self, challenge_resp: Response, method: str, uri: str, *, proxy: bool = False,
                      password: str | None = None, nc: int = 1, algorithm: str | None = None) -> str:  # fmt: skip
        values = challenge_resp.proxy_authenticate if proxy else challenge_resp.www_authenticate
        value = next(v for v in values if algorithm is None or v.algorithm.upper() == algorithm.upper())
        alg = value.algorithm
        realm, nonce = value.realm or "", value.nonce or ""
        ha1 = _h(alg, f"{self.user}:{realm}:{password if password is not None else self.password}")
        ha2 = _h(alg, f"{method}:{uri}")
        cnonce = secrets.token_hex(4)
        ncs = f"{nc:08x}"
        response = _h(alg, f"{ha1}:{nonce}:{ncs}:{cnonce}:auth:{ha2}")
        name = "Proxy-Authorization" if proxy else "Authorization"
        return (f'{name}: Digest username="{self.user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                f'response="{response}", algorithm={alg}, qop=auth, nc={ncs}, cnonce="{cnonce}"')  # fmt: skip

    def register(self, *, expires: int = 300, contact: str | None = None) -> Response:
        uri = f"sip:{self.domain}"
        headers = [f"Contact: <{contact or self.contact}>", f"Expires: {expires}"]
        self.request("REGISTER", uri, headers=headers)
        first = self.final("REGISTER")
        if first.status != 401:
            return first
        self.request("REGISTER", uri, headers=[*headers, self.authorization(first, "REGISTER", uri)])
        return self.final("REGISTER")

    def respond(self, request: Request, status: int, reason: str = "OK", *, to_tag: str | None = None,
                headers: list[str] | None = None, body: bytes = b"") -> None:  # fmt: skip
        lines = [f"SIP/2.0 {status} {reason}"]
        for name in ("Via", "From", "Call-ID", "CSeq", "Record-Route"):
            for value in request.headers.values(name):
                lines.append(f"{name}: {value}")
        to = request.headers.get("To") or ""
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        lines.append(f"To: {to}")
        if 200 <= status < 300 and request.method == "INVITE":
            lines.append(f"Contact: <{self.contact}>")
        lines += [*(headers or []), f"Content-Length: {len(body)}", "", ""]
        data = "\r\n".join(lines).encode() + body
        top = request.top_via
        if self.transport == "UDP" and top is not None:
            self.sock.sendto(data, response_destination(top))  # RFC 3261 18.2.2: by the top Via
        else:
            self.send_raw(data)
