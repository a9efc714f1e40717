"""Settings every protocol front end (smtp, pop3, imap) has: its name, its TLS
material and how long a reply may wait for a client that does not read.

Each service's settings class derives from `FrontEndSettings` and sets its own
`env_prefix`, so the fields read `PARLEY_SMTP_TLS_CERT`, `PARLEY_IMAP_TLS_CERT`, ...
"""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from libs.config import SuiteSettings


class FrontEndSettings(BaseSettings):
    hostname: str = Field("", description="Our name in greetings and trace headers; empty: the host name.")
    tls_cert: Path | None = Field(
        None, description="PEM certificate for STARTTLS/STLS and implicit TLS; empty: <data dir>/tls/cert.pem."
    )
    tls_key: Path | None = Field(None, description="PEM private key of the certificate; empty: <data dir>/tls/key.pem.")
    write_timeout: float = Field(
        60.0, gt=0, description="Seconds a reply may wait for a client that does not read before it is dropped."
    )

    def server_name(self) -> str:
        return self.hostname or socket.gethostname() or "localhost"

    def cert_paths(self, suite: SuiteSettings) -> tuple[Path, Path]:
        """The certificate and key to serve; by default the pair `parley up` creates under the data dir."""
        tls_dir = suite.resolved_data_dir() / "tls"
        cert = self.tls_cert.expanduser() if self.tls_cert else tls_dir / "cert.pem"
        key = self.tls_key.expanduser() if self.tls_key else tls_dir / "key.pem"
        return cert, key
