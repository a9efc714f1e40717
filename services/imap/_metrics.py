"""Prometheus metrics of the IMAP service (served on the ops port's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SESSIONS = Counter("parley_imap_sessions_total", "IMAP sessions accepted", ["listener"])
OPEN_SESSIONS = Gauge("parley_imap_sessions_open", "IMAP sessions open now", ["listener"])
IDLING = Gauge("parley_imap_sessions_idling", "IMAP sessions in IDLE now")
REFUSED_CONNECTIONS = Counter(
    "parley_imap_connections_refused_total", "Connections refused for too many from one address", ["listener"]
)
LOGINS = Counter("parley_imap_logins_total", "LOGIN/AUTHENTICATE outcomes", ["mechanism", "result"])
COMMANDS = Counter("parley_imap_commands_total", "Commands by name and tagged status", ["command", "status"])
COMMAND_SECONDS = Histogram(
    "parley_imap_command_seconds", "Time from a command's arrival to its tagged response", ["command"]
)
