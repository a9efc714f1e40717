"""Prometheus metrics of the SMTP service (served on the ops port's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SESSIONS = Counter("parley_smtp_sessions_total", "SMTP/LMTP sessions accepted", ["listener"])
OPEN_SESSIONS = Gauge("parley_smtp_sessions_open", "SMTP/LMTP sessions open now", ["listener"])
REFUSED_CONNECTIONS = Counter(
    "parley_smtp_connections_refused_total", "Connections refused for too many from one address", ["listener"]
)
RECIPIENTS = Counter("parley_smtp_recipients_total", "RCPT answers by reply code", ["listener", "code"])
MESSAGES = Counter("parley_smtp_messages_total", "Messages at end of data by reply code", ["listener", "code"])
