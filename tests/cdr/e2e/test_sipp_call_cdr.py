"""End to end: sipp calls through the real sip service, the real cdr service writes the record.

bob registers a sipp UAS (`tests/sip/sipp/register_auth.xml`, `uas_answer.xml`);
a sipp UAC calls him and hangs up 5 s after the answer (`tests/cdr/sipp/uac_call_5s.xml`).
The sip service publishes the call's events to the stream `CDR`; the cdr
service must show exactly one record, answered, 5 +- 1 s long, through the
API and the CSV export, and one line in the daily file.
"""

from __future__ import annotations

import csv
import io
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from libs.testing.natsd import NatsServer
from libs.testing.ports import free_ports
from libs.testing.services import ServiceProcess
from tests.cdr.conftest import start_cdr
from tests.sip.integration.conftest import SipProcess, start_sip
from tests.storage.conftest import ADMIN_PASSWORD, start_directory

SIP_SCENARIOS = Path(__file__).resolve().parents[2] / "sip" / "sipp"
CDR_SCENARIOS = Path(__file__).resolve().parents[1] / "sipp"
PASSWORD = "correct-horse-battery-staple"  # sipp reads a password up to the first space


@dataclass
class Suite:
    admin_url: str
    api_url: str
    files: Path
    sip: SipProcess


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    data_dir = tmp_path_factory.mktemp("cdr-e2e")
    with NatsServer() as nats:
        directory, admin_url = start_directory(data_dir / "directory", nats.url)
        started: list[ServiceProcess] = [directory]
        try:
            # sipp answers only MD5 challenges, and only the first one.
            sip = start_sip(data_dir / "sip1", nats.url, {"PARLEY_SIP_DIGEST_ALGORITHMS": '["MD5", "SHA-256"]'})
            started.append(sip.process)
            cdr, api_url = start_cdr(data_dir / "cdr", nats.url, f"sqlite+aiosqlite:///{data_dir / 'cdr.sqlite3'}",
                                     data_dir / "files")  # fmt: skip
            started.append(cdr)
            yield Suite(admin_url, api_url, data_dir / "files", sip)
        finally:
            for process in reversed(started):
                process.stop()


def new_domain(admin_url: str) -> str:
    domain = f"d{uuid.uuid4().hex[:10]}.test"
    with httpx.Client(base_url=f"{admin_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30) as admin:
        assert admin.post("/domains", json={"name": domain}).status_code == 201
        for user in ("alice", "bob"):
            reply = admin.post("/accounts", json={"address": f"{user}@{domain}", "password": PASSWORD})
            assert reply.status_code == 201, reply.text
    return domain


def sipp(scenario: Path, port: int, *args: str, timeout: float = 30) -> list[str]:
    return ["sipp", *args, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin",
            "-timeout", f"{int(timeout)}s", "-timeout_error"]  # fmt: skip


def injection(tmp_path: Path, name: str, row: str) -> Path:
    path = tmp_path / f"{name}.csv"
    path.write_text(f"SEQUENTIAL\n{row}\n")
    return path


def test_a_call_answered_for_5_s_gives_one_cdr_of_5_s(suite: Suite, tmp_path: Path) -> None:
    domain = new_domain(suite.admin_url)
    register_port, uas_port, uac_port = free_ports(3)
    target = f"127.0.0.1:{suite.sip.port}"
    row = f"bob;{domain};{PASSWORD};127.0.0.1:{uas_port};[authentication username=bob password={PASSWORD}]"
    registered = subprocess.run(
        [*sipp(SIP_SCENARIOS / "register_auth.xml", register_port, target),
         "-inf", str(injection(tmp_path, "register", row))],
        capture_output=True, text=True, timeout=40, cwd=tmp_path,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stdout[-2000:]
    uas = subprocess.Popen(sipp(SIP_SCENARIOS / "uas_answer.xml", uas_port), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=tmp_path)  # fmt: skip
    try:
        call = subprocess.run(
            [*sipp(CDR_SCENARIOS / "uac_call_5s.xml", uac_port, target),
             "-inf", str(injection(tmp_path, "uac", f"alice;bob;{domain}"))],
            capture_output=True, text=True, timeout=40, cwd=tmp_path,
        )  # fmt: skip
        assert call.returncode == 0, call.stdout[-2000:] + call.stderr[-2000:]
        out, _ = uas.communicate(timeout=30)
        assert uas.returncode == 0, out[-2000:]
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()

    callee = f"bob@{domain}"
    with httpx.Client(base_url=f"{suite.api_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30) as api:
        items: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            items = api.get("/cdrs", params={"account": callee}).json()["items"]
            if items and items[0]["ended_at"]:
                break
            time.sleep(0.2)
        assert len(items) == 1, items
        record = items[0]
        assert record["result"] == "answered" and record["status"] == 200 and record["ended_by"] == "bye"
        assert record["callee"] == callee and record["to_uri"] == f"sip:bob@{domain}"
        assert 4.0 <= float(record["duration"]) <= 6.0, record  # type: ignore[arg-type]
        assert record["billable_seconds"] in (4, 5, 6)
        exported = list(csv.DictReader(io.StringIO(api.get("/cdrs/export.csv", params={"account": callee}).text)))
        assert len(exported) == 1
        assert exported[0]["call_id"] == record["call_id"] and 4.0 <= float(exported[0]["duration"]) <= 6.0
        assert api.get(f"/cdrs/{record['call_id']}").json()["items"][0]["duration"] == record["duration"]
    lines = [line for path in suite.files.glob("cdr-*.log") for line in path.read_text().splitlines()
             if line.startswith(f"{record['call_id']}\t")]  # fmt: skip
    assert len(lines) == 1
