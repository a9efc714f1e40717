"""Structured logging: one JSON event per line, with `service` bound.

Event names are dotted phrases in the subject grammar (`directory.auth.failed`);
per-connection ids (`session_id`, `peer`, `call_id`, `trace`) are bound with
`bind_context` so every line of that unit of work carries them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_SECRET_KEYS = frozenset({"password", "secret", "token", "authorization", "proof", "response"})


def _mask_secrets(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in _SECRET_KEYS.intersection(event):
        event[key] = "***"
    return event


def configure_logging(service: str, *, level: str = "info", fmt: str = "json", node: str = "") -> None:
    """Set up structlog and route the standard library's logging through it."""
    numeric = _LEVELS.get(level.lower(), logging.INFO)
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
    # uvicorn's access log duplicates what our middleware logs.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service, **({"node": node} if node else {}))


def get_logger(**fields: Any) -> Any:
    """A lazy logger: safe to create at import time, before configure_logging() runs."""
    return structlog.get_logger(**fields)


def bind_context(**fields: Any) -> None:
    """Bind correlation ids for the current task (they ride contextvars)."""
    structlog.contextvars.bind_contextvars(**fields)
