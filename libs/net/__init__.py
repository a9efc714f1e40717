"""The TCP/TLS server transport shared by the line-protocol front ends.

`Server` listens and accepts (connection limits, implicit TLS, graceful
close); `Connection` reads with a timeout, writes with a timeout and
backpressure, and upgrades with STARTTLS. A front end (`FrontEnd`) keeps only
its protocol: its session loop, what its timeouts mean, its replies, metrics
and log events.
"""

from libs.net.connection import (
    READ_SIZE,
    Connection,
    ReadTimeout,
    StreamFilter,
    TlsFailed,
    WriteTimeout,
)
from libs.net.server import FrontEnd, Listener, Server

__all__ = [
    "READ_SIZE",
    "Connection",
    "FrontEnd",
    "Listener",
    "ReadTimeout",
    "Server",
    "StreamFilter",
    "TlsFailed",
    "WriteTimeout",
]
