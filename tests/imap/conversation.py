"""The IMAP side of the conversation scripts (libs/testing/conversation.py):
session settings from a script's OPTION lines, and the in-memory channel over
the sans-I/O core with the fake service of ``fakes``.

IMAP's OPTION names: starttls, plaintext (no TLS yet), literal_minus, and any
``Limits`` field (max_errors=3).
"""

from __future__ import annotations

from services.imap.protocol import ConnectionLost, Limits, LogoutReceived, SessionClosed, SessionConfig
from tests.imap.fakes import Exchange


def config_from_options(options: dict[str, str]) -> SessionConfig:
    limit_names = set(Limits.__dataclass_fields__)
    unknown = set(options) - {"starttls", "plaintext", "literal_minus"} - limit_names
    if unknown:
        raise ValueError(f"unknown script options: {sorted(unknown)}")
    limits = Limits(**{k: int(v) for k, v in options.items() if k in limit_names})
    return SessionConfig(
        hostname="imap.example.test",
        limits=limits,
        tls_available="starttls" in options,
        tls_active="plaintext" not in options and "starttls" not in options,
        literal_minus="literal_minus" in options,
    )


class InMemoryChannel:
    """A ``Channel`` whose server is the sans-I/O session with the fake service of ``fakes``."""

    def __init__(self, config: SessionConfig) -> None:
        self.exchange = Exchange(config)
        self._output = bytearray(self.exchange.greeting)
        self._lines: list[str] = []

    def send(self, data: bytes) -> None:
        if not self.closed:
            self._output += self.exchange.send(data)

    def read_line(self) -> str | None:
        self._collect()
        return self._lines.pop(0) if self._lines else None

    def start_tls(self) -> None:
        self.exchange.session.start_tls()

    @property
    def closed(self) -> bool:
        return any(isinstance(e, LogoutReceived | SessionClosed | ConnectionLost) for e in self.exchange.events)

    def leftover(self) -> list[str]:
        self._collect()
        return list(self._lines)

    def _collect(self) -> None:
        if self._output:
            text = self._output.decode("utf-8", "replace")
            self._output.clear()
            assert text.endswith("\r\n"), f"response not terminated by CRLF: {text!r}"
            self._lines.extend(text[:-2].split("\r\n"))
