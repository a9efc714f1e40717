"""The CDR REST API over a real cdr process: authentication through the directory, domain
administrators limited to their domain, filters, keyset pagination, CSV and JSON Lines exports."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

from libs.contracts import sip as contract
from tests.cdr.conftest import DOMAIN_ADMIN_PASSWORD, CdrSuite, jsonl
from tests.cdr.events import T0, call_events
from tests.storage.conftest import ADMIN_PASSWORD


@dataclass
class Calls:
    prefix: str
    ours: str  # domain with a domain administrator
    theirs: str
    start: datetime


@pytest.fixture(scope="module")
def calls(cdr_suite: CdrSuite) -> Iterator[Calls]:
    """Five answered calls in `ours` (alice -> bob), two busy ones in `theirs`, an hour apart, in a day of their own."""
    p = f"api{uuid.uuid4().hex[:6]}-"
    ours = cdr_suite.new_domain(admin=True)
    theirs = cdr_suite.new_domain()
    start = T0 + timedelta(days=30 + uuid.uuid4().int % 1000)  # a day no other test's calls started on
    events: list[contract.CallEvent] = []
    for i in range(5):
        events += [e for e in call_events(f"{p}ours{i}", caller=f"alice@{ours}", callee=f"bob@{ours}",
                                          start=start + timedelta(hours=i), talk=10 + i) if e]  # fmt: skip
    for i in range(2):
        events += [e for e in call_events(f"{p}theirs{i}", caller=f"alice@{theirs}", callee=f"bob@{theirs}",
                                          start=start + timedelta(hours=i, minutes=30), talk=None,
                                          status=486) if e]  # fmt: skip
    asyncio.run(cdr_suite.publish(events))
    asyncio.run(cdr_suite.wait_final(p, 7))
    yield Calls(p, ours, theirs, start)


def window(calls: Calls) -> dict[str, str]:
    start = calls.start
    return {"since": start.isoformat(), "until": (start + timedelta(days=1)).isoformat()}


def test_credentials_are_required(cdr_suite: CdrSuite, calls: Calls) -> None:
    with cdr_suite.api() as api:
        assert api.get("/cdrs", auth=None).status_code == 401
        reply = api.get("/cdrs", auth=("admin", "wrong password"))
        assert reply.status_code == 401 and reply.headers["www-authenticate"].startswith("Basic")
        assert api.get("/cdrs/export.csv", auth=("nobody@nowhere.test", "x")).status_code == 401


def test_server_admin_sees_every_call_in_start_order(cdr_suite: CdrSuite, calls: Calls) -> None:
    with cdr_suite.api() as api:
        reply = api.get("/cdrs", params=window(calls))
    assert reply.status_code == 200, reply.text
    items = reply.json()["items"]
    assert [i["call_id"].removeprefix(calls.prefix) for i in items] == [
        "ours0", "theirs0", "ours1", "theirs1", "ours2", "ours3", "ours4",
    ]  # fmt: skip
    first = items[0]
    assert (first["result"], first["status"], first["duration"], first["billable_seconds"]) == ("answered", 200, 10, 10)
    assert items[1]["result"] == "busy" and items[1]["billable_seconds"] == 0


def test_domain_admin_sees_only_their_domain(cdr_suite: CdrSuite, calls: Calls) -> None:
    with cdr_suite.api(f"admin@{calls.ours}", DOMAIN_ADMIN_PASSWORD) as api:
        items = api.get("/cdrs", params=window(calls)).json()["items"]
        assert [i["call_id"].removeprefix(calls.prefix) for i in items] == [f"ours{i}" for i in range(5)]
        assert api.get("/cdrs", params={"account": f"alice@{calls.theirs}"}).status_code == 403
        assert api.get(f"/cdrs/{calls.prefix}theirs0").status_code == 404
        assert api.get(f"/cdrs/{calls.prefix}ours0").json()["items"][0]["callee"] == f"bob@{calls.ours}"
        exported = jsonl(api.get("/cdrs/export.jsonl", params=window(calls)).text)
        assert {e["call_id"].removeprefix(calls.prefix) for e in exported} == {f"ours{i}" for i in range(5)}
    with cdr_suite.api(f"admin@{calls.ours}", "wrong") as api:
        assert api.get("/cdrs").status_code == 401


def test_filters(cdr_suite: CdrSuite, calls: Calls) -> None:
    with cdr_suite.api() as api:
        busy = api.get("/cdrs", params={**window(calls), "result": "busy"}).json()["items"]
        assert {i["call_id"].removeprefix(calls.prefix) for i in busy} == {"theirs0", "theirs1"}
        by_account = api.get("/cdrs", params={**window(calls), "account": f"BOB@{calls.ours}"}).json()["items"]
        assert len(by_account) == 5
        start = calls.start
        narrow = {"since": (start + timedelta(hours=2)).isoformat(), "until": (start + timedelta(hours=4)).isoformat()}
        assert [i["call_id"].removeprefix(calls.prefix) for i in api.get("/cdrs", params=narrow).json()["items"]] == [
            "ours2", "ours3",
        ]  # fmt: skip


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-11-27T00:00:00Z", "until": "2026-11-26T00:00:00Z"},
        {"cursor": "not-a-cursor"},
        {"account": "no-at-sign"},
    ],
)
def test_bad_filters_are_400(cdr_suite: CdrSuite, calls: Calls, params: dict[str, str]) -> None:
    with cdr_suite.api() as api:
        assert api.get("/cdrs", params=params).status_code == 400


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"result": "maybe"}, {"limit": "0"}, {"limit": "5000"}])
def test_invalid_parameters_are_422(cdr_suite: CdrSuite, calls: Calls, params: dict[str, str]) -> None:
    with cdr_suite.api() as api:
        assert api.get("/cdrs", params=params).status_code == 422


def test_keyset_pagination_walks_every_record_once(cdr_suite: CdrSuite, calls: Calls) -> None:
    seen: list[str] = []
    cursor = None
    with cdr_suite.api() as api:
        for _ in range(10):
            params = {**window(calls), "limit": "2", **({"cursor": cursor} if cursor else {})}
            page = api.get("/cdrs", params=params).json()
            seen += [i["call_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert len(seen) == 7 and len(set(seen)) == 7
    with cdr_suite.api() as api:  # a last page that is exactly full says so
        assert api.get("/cdrs", params={**window(calls), "limit": "7"}).json()["next_cursor"] is None
    with cdr_suite.api() as api:
        assert seen == [i["call_id"] for i in api.get("/cdrs", params=window(calls)).json()["items"]]


def test_csv_and_jsonl_exports(cdr_suite: CdrSuite, calls: Calls) -> None:
    with cdr_suite.api() as api:
        csv_reply = api.get("/cdrs/export.csv", params=window(calls))
        jsonl_reply = api.get("/cdrs/export.jsonl", params={**window(calls), "result": "answered"})
    assert csv_reply.status_code == 200 and csv_reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_reply.text)))
    assert len(rows) == 7
    first = rows[0]
    assert first["call_id"] == f"{calls.prefix}ours0" and first["result"] == "answered"
    assert first["duration"] == "10.000" and first["billable_seconds"] == "10" and first["status"] == "200"
    assert first["caller"] == f"alice@{calls.ours}" and first["started_at"].endswith("Z")
    records = jsonl(jsonl_reply.text)
    assert len(records) == 5 and all(r["result"] == "answered" for r in records)


def test_openapi_is_served(cdr_suite: CdrSuite) -> None:
    with cdr_suite.api() as api:
        schema = api.get(f"{cdr_suite.api_url}/openapi.json").json()
    assert {"/api/v1/cdrs", "/api/v1/cdrs/export.csv", "/api/v1/cdrs/export.jsonl", "/api/v1/cdrs/{call_id}"} <= set(
        schema["paths"]
    )


def test_a_changed_password_is_not_remembered(cdr_suite: CdrSuite) -> None:
    """Logins are cached for a minute, but a directory change event drops the cache at once."""
    domain = cdr_suite.new_domain(admin=True)
    boss = f"admin@{domain}"
    with cdr_suite.api(boss, DOMAIN_ADMIN_PASSWORD) as api:
        assert api.get("/cdrs").status_code == 200
    with httpx.Client(base_url=f"{cdr_suite.admin_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30) as c:
        assert c.put(f"/accounts/{boss}/password", json={"password": "a-new-secret"}).status_code == 204
    with cdr_suite.api(boss, DOMAIN_ADMIN_PASSWORD) as api:
        status = 200
        for _ in range(50):
            status = api.get("/cdrs").status_code
            if status == 401:
                break
            time.sleep(0.1)
        assert status == 401
    with cdr_suite.api(boss, "a-new-secret") as api:
        assert api.get("/cdrs").status_code == 200
