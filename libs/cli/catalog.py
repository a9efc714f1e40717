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
        return [(label, template.format(host=host, **values)) for label, template in self.endpoints]


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
)


def by_name(names: list[str] | None = None) -> list[ServiceSpec]:
    if not names:
        return list(SERVICES)
    known = {s.name: s for s in SERVICES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [s for s in SERVICES if s.name in names]
