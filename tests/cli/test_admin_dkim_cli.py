"""`parley admin domain dkim ...` against the recording fake of the admin REST API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from libs.cli.admin import _client
from tests.cli.test_admin_cli import AdminCli, FakeAdminApi


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAdminApi]:
    fake = FakeAdminApi()
    monkeypatch.setattr(_client, "transport_override", httpx.MockTransport(fake.handle))
    yield fake


@pytest.fixture
def cli(tmp_path: Path) -> AdminCli:
    return AdminCli(data_dir=tmp_path)


KEY = {
    "domain": "example.org",
    "selector": "s1",
    "algorithm": "rsa-sha256",
    "active": True,
    "signing": True,
    "created_at": "2026-11-26T06:00:00Z",
    "public_key": "MIIBIjAN",
    "dns_name": "s1._domainkey.example.org",
    "dns_record": "v=DKIM1; k=rsa; p=MIIBIjAN",
    "dns_zone_line": 's1._domainkey.example.org. IN TXT ( "v=DKIM1; k=rsa; p=MIIBIjAN" )',
}


def test_create_sends_selector_algorithm_and_prints_the_record(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("POST", "/domains/example.org/dkim", KEY, status=201)
    out = cli.ok("domain", "dkim", "create", "example.org", "--selector", "s1").stdout
    assert api.last.body == {"algorithm": "rsa", "active": True, "selector": "s1"}
    assert 's1._domainkey.example.org. IN TXT ( "v=DKIM1; k=rsa; p=MIIBIjAN" )' in out
    cli.ok("domain", "dkim", "create", "example.org", "--algorithm", "ed25519", "--inactive")
    assert api.last.body == {"algorithm": "ed25519", "active": False}
    cli.fails("domain", "dkim", "create", "example.org", "--algorithm", "dsa", exit_code=2)


def test_list_show_activate_delete(api: FakeAdminApi, cli: AdminCli) -> None:
    old = {**KEY, "selector": "s0", "signing": False}
    api.reply("GET", "/domains/example.org/dkim", [KEY, old])
    api.reply("GET", "/domains/example.org/dkim/s0", old)
    api.reply("PATCH", "/domains/example.org/dkim/s0", old)
    api.reply("DELETE", "/domains/example.org/dkim/s0", status=204)
    listing = cli.ok("domain", "dkim", "list", "example.org").stdout
    assert listing.splitlines()[0].split() == ["SELECTOR", "ALGORITHM", "ACTIVE", "SIGNING", "CREATED"]
    assert "s1" in cli.ok("domain", "dkim", "show", "example.org").stdout, "without --selector: the signing key"
    assert "dns record: v=DKIM1" in cli.ok("domain", "dkim", "show", "example.org", "--selector", "s0").stdout
    cli.ok("domain", "dkim", "deactivate", "example.org", "--selector", "s0")
    assert (api.last.method, api.last.body) == ("PATCH", {"active": False})
    cli.ok("domain", "dkim", "activate", "example.org", "-s", "s0")
    assert api.last.body == {"active": True}
    assert "deleted DKIM key s0" in cli.ok("domain", "dkim", "delete", "example.org", "--selector", "s0").stdout
    assert cli.json("domain", "dkim", "show", "example.org") == KEY


def test_show_without_signing_key_fails(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("GET", "/domains/example.org/dkim", [])
    cli.fails("domain", "dkim", "show", "example.org", exit_code=1)
