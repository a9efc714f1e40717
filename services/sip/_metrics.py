"""Prometheus metrics of the SIP service (served on the ops port's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REQUESTS = Counter("parley_sip_requests_total", "New SIP requests (server transactions) by method", ["method"])
RESPONSES = Counter("parley_sip_responses_sent_total", "Final responses the service sent or forwarded, by class",
                    ["status_class"])  # fmt: skip
MALFORMED = Counter("parley_sip_messages_malformed_total", "Messages that did not parse (answered or dropped)")
REGISTRATIONS = Counter("parley_sip_registrations_total", "REGISTER outcomes (ok, challenged, forbidden, error)",
                        ["result"])  # fmt: skip
TRANSACTIONS = Gauge("parley_sip_transactions", "Transactions in the transaction layer now")
FORKS = Gauge("parley_sip_proxy_contexts", "Proxy response contexts (forks) open now")
IM_STORED = Counter("parley_sip_im_stored_total", "MESSAGEs kept for an offline account")
IM_DELIVERED_LATER = Counter("parley_sip_im_delivered_later_total", "Stored MESSAGEs delivered on registration")
RATE_LIMITED = Counter(
    "parley_sip_requests_rate_limited_total", "New requests refused (503) for a client over its rate"
)
ANCHORED_CALLS = Gauge("parley_sip_anchored_calls", "Calls the B2BUA holds now (media through the relay)")
CALLS_ENDED = Counter("parley_sip_anchored_calls_ended_total", "Anchored calls ended, by who hung up",
                      ["disconnected_by"])  # fmt: skip
SUBSCRIPTIONS = Gauge("parley_sip_subscriptions", "SUBSCRIBE dialogs this replica holds now")
NOTIFIES = Counter("parley_sip_notifies_total", "NOTIFY requests sent, by event package", ["package"])
PUBLICATIONS = Counter("parley_sip_publications_total", "PUBLISH outcomes (ok, refused)", ["result"])
FORWARDED = Counter("parley_sip_calls_forwarded_total", "Calls sent on by a forwarding rule", ["rule"])
