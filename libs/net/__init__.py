"""The TCP/TLS server transport shared by the line-protocol front ends.

`Server` listens and accepts (connection limits, implicit TLS, graceful
close); `Connection` reads with a timeout, writes with a timeout and
backpressure, and upgrades with STARTTLS. A front end (`FrontEnd`) keeps only
its protocol: its session loop, what its timeouts mean, its replies, metrics
and log events.

A front end subclasses `FrontEnd`, implements `serve(connection)` (and the
refusal hooks), and builds a `Server` with its listeners. In `serve` it
loops: `await connection.read(timeout=...)` (b"" at EOF, `ReadTimeout` when
the client is silent), feed the protocol core, `await connection.write(...)`.
Other tasks may write too (IMAP IDLE updates). STARTTLS is
`connection.start_tls(context, reply=..., handshake_timeout=...)`; a stream
transformation (IMAP COMPRESS=DEFLATE) is `connection.add_filter(...)`
after the reply that starts it.
"""

from libs.net.connection import (
    READ_SIZE,
    Connection,
    ReadTimeout,
    StreamCorrupt,
    StreamFilter,
    TlsFailed,
    WriteTimeout,
)
from libs.net.deflate import Deflate
from libs.net.limits import ConnectionLimiter, TokenBuckets
from libs.net.server import FrontEnd, Listener, Server

__all__ = [
    "READ_SIZE",
    "Connection",
    "ConnectionLimiter",
    "TokenBuckets",
    "Deflate",
    "FrontEnd",
    "Listener",
    "ReadTimeout",
    "Server",
    "StreamCorrupt",
    "StreamFilter",
    "TlsFailed",
    "WriteTimeout",
]
