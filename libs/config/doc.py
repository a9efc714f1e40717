"""Writes docs/configuration.md: every PARLEY_* setting in one table, from the schemas.

`python -m libs.config.doc` rewrites the file; `python -m libs.config.doc --check`
exits 1 when it is out of date (the test suite runs that check).
"""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

# Every settings schema of the suite, in the order the table shows them.
SCHEMAS = (
    ("Suite-wide", "libs.config:SuiteSettings"),
    ("Embedded NATS (`parley up`)", "libs.cli.natsd:EmbeddedNatsSettings"),
    ("Blob store", "libs.blobs.settings:BlobSettings"),
    ("directory", "services.directory.config:DirectorySettings"),
    ("storage", "services.storage.config:StorageSettings"),
    ("smtp", "services.smtp.config:SmtpSettings"),
    ("smtp: sender checks and rate limits", "services.smtp.config_mailauth:MailAuthSettings"),
    ("smtp: outbound delivery", "services.smtp._outbound_config:OutboundSettings"),
    ("pop3", "services.pop3.config:Pop3Settings"),
    ("imap", "services.imap.config:ImapSettings"),
    ("sip", "services.sip.config:SipSettings"),
    ("cdr", "services.cdr.config:CdrSettings"),
    ("media", "services.media.config:MediaSettings"),
)
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

HEADER = """# Configuration

Every setting is an environment variable. Suite-wide settings are `PARLEY_<OPTION>`;
a service's own are `PARLEY_<SERVICE>_<OPTION>`. Each service validates its
settings when it starts and refuses to run with a wrong value.

This file is generated from the settings schemas by `python -m libs.config.doc`;
do not edit it by hand.
"""


def _load(path: str) -> type[BaseSettings]:
    module, name = path.split(":")
    cls: type[BaseSettings] = getattr(import_module(module), name)
    return cls


def _default(field: Any) -> str:
    if field.default_factory is not None:
        return "(computed)"
    value = field.default
    if value is None or value == "":
        return "(empty)"
    return f"`{value}`"


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    text = text.replace("pydantic.types.", "").replace("typing.", "").replace("pathlib.", "")
    return text.replace(" | ", " or ")


def render() -> str:
    lines = [HEADER]
    for title, path in SCHEMAS:
        cls = _load(path)
        prefix = cls.model_config.get("env_prefix", "")
        lines += [f"## {title}", "", "| variable | default | type | meaning |", "|---|---|---|---|"]
        for name, field in cls.model_fields.items():
            env = f"{prefix}{name}".upper()
            description = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{env}` | {_default(field)} | {_type_name(field.annotation)} | {description} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOC_PATH.exists() or DOC_PATH.read_text() != text:
            print(f"{DOC_PATH} is out of date: run `python -m libs.config.doc`", file=sys.stderr)
            return 1
        return 0
    DOC_PATH.write_text(text)
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
