"""The services `parley up` knows how to run, in start order.

Each entry names the module that runs the service (`python -m <module>`),
the settings class that holds its ports, and how to print its endpoints.
New services add one line here when they land.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    settings: str  # "module:Class" of its pydantic-settings schema
    endpoints: tuple[tuple[str, str], ...]  # (label, template using {host} and settings fields)
    owns_database: bool = False

    def load_settings(self) -> Any:
        module, cls = self.settings.split(":")
        return getattr(import_module(module), cls)()

    def ops_port(self) -> int:
        return int(self.load_settings().ops_port)

    def describe_endpoints(self, host: str) -> list[tuple[str, str]]:
        values = self.load_settings().model_dump()
        described = [(label, template.format(host=host, **values)) for label, template in self.endpoints]
        return [(label, url) for label, url in described if not url.endswith(":0")]  # port 0: listener off


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="directory",
        module="services.directory",
        settings="services.directory.config:DirectorySettings",
        endpoints=(
            ("admin REST API", "http://{host}:{admin_port}/api/v1"),
            ("API docs", "http://{host}:{admin_port}/docs"),
        ),
        owns_database=True,
    ),
    ServiceSpec(
        name="storage",
        module="services.storage",
        settings="services.storage.config:StorageSettings",
        endpoints=(),
        owns_database=True,
    ),
    ServiceSpec(
        name="cdr",
        module="services.cdr",
        settings="services.cdr.config:CdrSettings",
        endpoints=(
            ("CDR REST API", "http://{host}:{api_port}/api/v1/cdrs"),
            ("CDR API docs", "http://{host}:{api_port}/docs"),
        ),
        owns_database=True,
    ),
    ServiceSpec(
        name="smtp",
        module="services.smtp",
        settings="services.smtp.config:SmtpSettings",
        endpoints=(
            ("SMTP (MX)", "smtp://{host}:{mx_port}"),
            ("submission (STARTTLS)", "smtp://{host}:{submission_port}"),
            ("submissions (TLS)", "smtps://{host}:{submissions_port}"),
            ("LMTP", "lmtp://{host}:{lmtp_port}"),
        ),
    ),
    ServiceSpec(
        name="pop3",
        module="services.pop3",
        settings="services.pop3.config:Pop3Settings",
        endpoints=(
            ("POP3 (STLS)", "pop3://{host}:{pop3_port}"),
            ("POP3S (TLS)", "pop3s://{host}:{pop3s_port}"),
        ),
    ),
    ServiceSpec(
        name="imap",
        module="services.imap",
        settings="services.imap.config:ImapSettings",
        endpoints=(
            ("IMAP (STARTTLS)", "imap://{host}:{port}"),
            ("IMAPS (TLS)", "imaps://{host}:{tls_port}"),
        ),
    ),
    ServiceSpec(
        name="sip",
        module="services.sip",
        settings="services.sip.config:SipSettings",
        endpoints=(
            ("SIP (UDP)", "sip:{host}:{udp_port}"),
            ("SIP (TCP)", "sip:{host}:{tcp_port};transport=tcp"),
            ("SIP (TLS)", "sips:{host}:{tls_port}"),
            ("SIP (WebSocket)", "ws://{host}:{ws_port}"),
        ),
    ),
    ServiceSpec(
        name="media",
        module="services.media",
        settings="services.media.config:MediaSettings",
        endpoints=(("RTP relay (UDP)", "udp://{host}:{port_min}-{port_max}"),),
    ),
)


def by_name(names: list[str] | None = None) -> list[ServiceSpec]:
    if not names:
        return list(SERVICES)
    known = {s.name: s for s in SERVICES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [s for s in SERVICES if s.name in names]
