"""`parley up --services directory,cdr`: the suite migrates and runs the cdr service,
whose API admits the administrator `parley up` created (checked by the directory over the bus)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from libs.testing.ports import free_ports
from libs.testing.suite import start_suite, stop_suite

pytestmark = pytest.mark.timeout(180)


def test_parley_up_runs_cdr_with_its_migrated_database(tmp_path: Path) -> None:
    (api_port,) = free_ports(1)
    suite = start_suite(tmp_path, services="directory,cdr", env={"PARLEY_CDR_API_PORT": str(api_port)})
    try:
        data = suite.data_dir
        assert (data / "db" / "cdr.sqlite3").is_file()
        admin = json.loads((data / "secrets" / "admin.json").read_text())
        url = f"http://127.0.0.1:{api_port}/api/v1/cdrs"
        reply = httpx.get(url, auth=(admin["user"], admin["password"]), timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"items": [], "next_cursor": None}
        assert httpx.get(url, auth=(admin["user"], "wrong"), timeout=30).status_code == 401
        migrated = suite.parley("migrate", "--services", "cdr")
        assert migrated.returncode == 0 and "Migrated cdr" in migrated.stdout, migrated.stdout + migrated.stderr
    finally:
        stop_suite(suite)
