"""`parley admin ...` against a recording fake of the admin REST API.

The fake (`FakeAdminApi`) does not implement the directory: it checks HTTP
Basic credentials, records every request and answers with whatever the test
scripted, or 404 as FastAPI would. What is under test is the client's side of
the contract in docs/admin-api.md: the requests it builds from the command
line, where it finds its credentials, and how it prints replies and failures.

`AdminCli` runs the command in-process and knows nothing about the fake, so
end-to-end tests reuse it against a real directory service by giving it the
service's URL and login (and not installing the fake's transport).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from libs.cli import admin
from libs.cli.admin import _client, _input
from libs.cli.admin._client import error_details, quote_segment, resource
from libs.cli.admin._credentials import normalize_base_url
from libs.cli.admin._input import parse_json_or_string, parse_quota

API_URL = "http://directory.test:8010"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "s3cret"
CONNECTION_ENV_VARS = ("PARLEY_ADMIN_URL", "PARLEY_ADMIN_USER", "PARLEY_ADMIN_PASSWORD", "PARLEY_DATA_DIR")


# --- helpers meant for reuse (end-to-end tests give AdminCli a real URL) -------------------


@dataclass
class AdminCli:
    """Runs `parley admin` in-process with a given connection.

    Connection variables of the surrounding shell are cleared so a developer's
    PARLEY_ADMIN_* cannot leak into a test; pass `env` to set them on purpose.
    A None `user`/`password`/`url` leaves that flag off the command line.
    """

    url: str | None = API_URL
    user: str | None = ADMIN_USER
    password: str | None = ADMIN_PASSWORD
    data_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def global_args(self) -> list[str]:
        args: list[str] = []
        for flag, value in (("--url", self.url), ("--user", self.user), ("--password", self.password)):
            if value is not None:
                args += [flag, value]
        if self.data_dir is not None:
            args += ["--data-dir", str(self.data_dir)]
        return args

    def run(self, *args: str, input: str | None = None) -> Result:
        environment: dict[str, str | None] = {name: None for name in CONNECTION_ENV_VARS}
        environment.update(self.env)
        return CliRunner().invoke(admin.app, [*self.global_args(), *args], input=input, env=environment)

    def ok(self, *args: str, input: str | None = None) -> Result:
        """Run and insist on success, showing the output when it failed."""
        result = self.run(*args, input=input)
        assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}"
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        """Run with --json and return the parsed reply."""
        return json.loads(self.ok(*args, "--json", input=input).stdout)

    def fails(self, *args: str, exit_code: int, input: str | None = None) -> Result:
        """Run and insist on the given exit code and no traceback."""
        result = self.run(*args, input=input)
        assert result.exit_code == exit_code, f"exit {result.exit_code}\n{result.output}"
        assert isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        return result


@dataclass
class RecordedRequest:
    method: str
    raw_path: str  # as sent, still percent-encoded, without the /api/v1 prefix
    params: dict[str, str]
    body: Any
    user: str | None
    host: str

    @property
    def path(self) -> str:
        return unquote(self.raw_path)


def plain(text: str) -> str:
    """Output with the frame of click's rich error panel removed and whitespace collapsed."""
    return " ".join(text.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


def basic_credentials(request: httpx.Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    return user, password


class FakeAdminApi:
    """Records requests and answers with scripted replies; 401/404 like the real service."""

    prefix = "/api/v1"

    def __init__(self, *, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> None:
        self.credentials = (user, password)
        self.replies: dict[tuple[str, str], httpx.Response] = {}
        self.requests: list[RecordedRequest] = []

    def reply(self, method: str, path: str, body: Any = None, *, status: int = 200) -> None:
        """Script the answer to `method path` (path as the client sends it, after /api/v1)."""
        content = b"" if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"} if body is not None else {}
        self.replies[(method, path)] = httpx.Response(status, content=content, headers=headers)

    def fail(self, method: str, path: str, status: int, detail: Any) -> None:
        self.reply(method, path, {"detail": detail}, status=status)

    @property
    def last(self) -> RecordedRequest:
        assert self.requests, "no request reached the API"
        return self.requests[-1]

    def handle(self, request: httpx.Request) -> httpx.Response:
        raw_path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        assert raw_path.startswith(self.prefix), raw_path
        credentials = basic_credentials(request)
        self.requests.append(
            RecordedRequest(
                method=request.method,
                raw_path=raw_path[len(self.prefix) :],
                params=dict(parse_qsl(request.url.query.decode("ascii"))),
                body=json.loads(request.content) if request.content else None,
                user=credentials[0] if credentials else None,
                host=request.url.host,
            )
        )
        if credentials != self.credentials:
            return httpx.Response(401, json={"detail": "invalid credentials"}, headers={"www-authenticate": "Basic"})
        scripted = self.replies.get((request.method, raw_path[len(self.prefix) :]))
        return scripted if scripted is not None else httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAdminApi]:
    fake = FakeAdminApi()
    monkeypatch.setattr(_client, "transport_override", httpx.MockTransport(fake.handle))
    yield fake


@pytest.fixture
def cli(tmp_path: Path) -> AdminCli:
    """Flags for URL and login, and a data dir without a secrets file."""
    return AdminCli(data_dir=tmp_path)


def unreachable(exception: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    return httpx.MockTransport(handler)


def write_secrets(data_dir: Path, **values: str) -> None:
    secrets = data_dir / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    (secrets / "admin.json").write_text(json.dumps(values), encoding="utf-8")


DOMAIN = {
    "name": "example.org",
    "aliases": ["example.net"],
    "enabled": True,
    "settings": {},
    "created_at": "2024-05-01T10:00:00Z",
}
ACCOUNT = {
    "address": "alice@example.org",
    "domain": "example.org",
    "name": "alice",
    "real_name": "Alice",
    "enabled": True,
    "quota_bytes": None,
    "quota_messages": 1000,
    "domain_admin": False,
    "settings": {},
    "created_at": "2024-05-01T10:00:00Z",
    "updated_at": "2024-05-01T10:00:00Z",
}


# --- argument parsing: the request each command line becomes -------------------------------


def test_domain_create_sends_name_and_aliases(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("POST", "/domains", DOMAIN, status=201)
    result = cli.ok("domain", "create", "example.org", "--alias", "example.net", "--alias", "example.com")
    assert api.last.method == "POST"
    assert api.last.body == {"name": "example.org", "aliases": ["example.net", "example.com"]}
    assert "name:" in result.stdout and "example.net" in result.stdout


def test_domain_delete_passes_force_as_query(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("DELETE", "/domains/example.org", status=204)
    cli.ok("domain", "delete", "example.org")
    assert api.last.params == {"force": "false"}
    cli.ok("domain", "delete", "example.org", "--force")
    assert api.last.params == {"force": "true"}


def test_domain_set_sends_only_what_was_given(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("PATCH", "/domains/example.org", DOMAIN)
    cli.ok("domain", "set", "example.org", "--disable")
    assert [(r.method, r.body) for r in api.requests] == [("PATCH", {"enabled": False})]


def test_domain_set_sends_only_the_changed_settings(api: FakeAdminApi, cli: AdminCli) -> None:
    """PATCH /domains merges settings on the server, so concurrent changes to other keys survive."""
    api.reply("PATCH", "/domains/example.org", DOMAIN)
    settings = ["--setting", "max_size=1048576", "--setting", "note=a=b", "--setting", "drop=null"]
    cli.ok("domain", "set", "example.org", *settings)
    assert [(r.method, r.body) for r in api.requests] == [
        ("PATCH", {"settings": {"max_size": 1048576, "note": "a=b", "drop": None}})
    ]


def test_domain_set_without_changes_is_a_usage_error(api: FakeAdminApi, cli: AdminCli) -> None:
    cli.fails("domain", "set", "example.org", exit_code=2)
    cli.fails("domain", "set", "example.org", "--setting", "novalue", exit_code=2)
    assert api.requests == []


def test_domain_alias_add_and_remove(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("POST", "/domains/example.org/aliases", DOMAIN, status=201)
    api.reply("DELETE", "/domains/example.org/aliases/example.net", status=204)
    cli.ok("domain", "alias", "add", "example.org", "example.net")
    assert api.last.body == {"name": "example.net"}
    assert "removed alias" in cli.ok("domain", "alias", "remove", "example.org", "example.net").stdout


def test_account_create_with_every_option(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("POST", "/accounts", ACCOUNT, status=201)
    cli.ok(
        "account",
        "create",
        "alice@example.org",
        "--password",
        "pw",
        "--real-name",
        "Alice",
        "--quota-bytes",
        "5000",
        "--quota-messages",
        "1000",
        "--domain-admin",
        "--disabled",
    )
    assert api.last.body == {
        "address": "alice@example.org",
        "password": "pw",
        "real_name": "Alice",
        "quota_bytes": 5000,
        "quota_messages": 1000,
        "domain_admin": True,
        "enabled": False,
    }


def test_account_create_minimal_sends_only_the_address(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("POST", "/accounts", ACCOUNT, status=201)
    cli.ok("account", "create", "alice@example.org")
    assert api.last.body == {"address": "alice@example.org"}


def test_account_create_reads_password_from_stdin(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("POST", "/accounts", ACCOUNT, status=201)
    cli.ok("account", "create", "alice@example.org", "--password-stdin", input="pass word\n")
    assert api.last.body["password"] == "pass word"


def test_both_password_sources_are_refused(api: FakeAdminApi, cli: AdminCli) -> None:
    args = ("account", "create", "a@example.org", "--password", "x", "--password-stdin")
    result = cli.fails(*args, input="y\n", exit_code=2)
    assert "use either --password or --password-stdin, not both" in plain(result.output)
    assert api.requests == []


def test_account_list_pages_and_filters(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("GET", "/accounts", [ACCOUNT])
    result = cli.ok("account", "list", "example.org", "--limit", "10", "--offset", "20")
    assert api.last.params == {"domain": "example.org", "limit": "10", "offset": "20"}
    assert result.stdout.splitlines()[0].split() == ["ADDRESS", "REAL", "NAME", "ENABLED", "DOMAIN", "ADMIN", "QUOTA"]
    cli.ok("account", "list")
    assert api.last.params == {"limit": "100", "offset": "0"}


def test_account_set_quota_none_clears_it(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("PATCH", "/accounts/alice@example.org", ACCOUNT)
    cli.ok(
        "account",
        "set",
        "alice@example.org",
        "--quota-bytes",
        "none",
        "--quota-messages",
        "50",
        "--no-domain-admin",
        "--enable",
    )
    assert api.last.body == {"quota_bytes": None, "quota_messages": 50, "domain_admin": False, "enabled": True}


@pytest.mark.parametrize("args", [[], ["--quota-bytes", "lots"], ["--quota-messages", "-1"]])
def test_account_set_rejects_bad_input_before_calling(api: FakeAdminApi, cli: AdminCli, args: list[str]) -> None:
    cli.fails("account", "set", "alice@example.org", *args, exit_code=2)
    assert api.requests == []


def test_account_password_prompts_twice_on_a_terminal(
    api: FakeAdminApi, cli: AdminCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_input, "stdin_is_tty", lambda: True)
    api.reply("PUT", "/accounts/alice@example.org/password", status=204)
    result = cli.ok("account", "password", "alice@example.org", input="n3w\nn3w\n")
    assert api.last.body == {"password": "n3w"}
    assert "n3w" not in result.stdout


def test_account_password_without_terminal_needs_a_source(api: FakeAdminApi, cli: AdminCli) -> None:
    result = cli.fails("account", "password", "alice@example.org", exit_code=2)
    assert "give --password or --password-stdin" in plain(result.output)
    assert api.requests == []


def test_forwarder_create_and_set_send_all_targets(api: FakeAdminApi, cli: AdminCli) -> None:
    forwarder = {"address": "fw@example.org", "domain": "example.org", "targets": ["a@x.net", "b@y.net"]}
    api.reply("POST", "/forwarders", forwarder, status=201)
    api.reply("PUT", "/forwarders/fw@example.org", forwarder)
    cli.ok("forwarder", "create", "fw@example.org", "a@x.net", "b@y.net")
    assert api.last.body == {"address": "fw@example.org", "targets": ["a@x.net", "b@y.net"]}
    cli.ok("forwarder", "set", "fw@example.org", "c@z.net")
    assert (api.last.method, api.last.body) == ("PUT", {"targets": ["c@z.net"]})
    cli.fails("forwarder", "set", "fw@example.org", exit_code=2)


def test_group_create_and_members(api: FakeAdminApi, cli: AdminCli) -> None:
    group = {"address": "team@example.org", "domain": "example.org", "real_name": "Team", "members": ["a@example.org"]}
    api.reply("POST", "/groups", group, status=201)
    api.reply("POST", "/groups/team@example.org/members", group)
    api.reply("DELETE", "/groups/team@example.org/members/b@example.org", group)
    cli.ok(
        "group",
        "create",
        "team@example.org",
        "--real-name",
        "Team",
        "--member",
        "a@example.org",
        "--member",
        "b@example.org",
    )
    members = ["a@example.org", "b@example.org"]
    assert api.last.body == {"address": "team@example.org", "real_name": "Team", "members": members}
    cli.ok("group", "member", "add", "team@example.org", "b@example.org")
    assert api.last.body == {"address": "b@example.org"}
    cli.ok("group", "member", "remove", "team@example.org", "b@example.org")
    assert api.last.method == "DELETE"


def test_alias_create_and_list_by_domain(api: FakeAdminApi, cli: AdminCli) -> None:
    alias = {"address": "info@example.org", "domain": "example.org", "target": "alice@example.org"}
    api.reply("POST", "/aliases", alias, status=201)
    api.reply("GET", "/aliases", [alias])
    cli.ok("alias", "create", "info@example.org", "alice@example.org")
    assert api.last.body == {"address": "info@example.org", "target": "alice@example.org"}
    assert "info@example.org  alice@example.org" in cli.ok("alias", "list", "example.org").stdout
    assert api.last.params == {"domain": "example.org"}


def test_admins_create_from_stdin(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("POST", "/admins", {"name": "ops", "created_at": "2024-05-01T10:00:00Z"}, status=201)
    cli.ok("admins", "create", "ops", "--password-stdin", input="pw\n")
    assert api.last.body == {"name": "ops", "password": "pw"}


def test_resolve_and_whoami(api: FakeAdminApi, cli: AdminCli) -> None:
    resolution = {
        "status": "local",
        "address": "info@example.org",
        "accounts": ["alice@example.org"],
        "remote": [],
        "reason": None,
    }
    api.reply("GET", "/resolve/info@example.org", resolution)
    api.reply("GET", "/whoami", {"name": "admin", "role": "server", "domain": None})
    assert "alice@example.org" in cli.ok("resolve", "info@example.org").stdout
    assert cli.json("whoami")["role"] == "server"


@pytest.mark.parametrize(
    ("address", "raw_path"),
    [
        ("a+tag@example.org", "/accounts/a%2Btag@example.org"),
        ("jörg@exämple.org", "/accounts/j%C3%B6rg@ex%C3%A4mple.org"),
        ("odd/name?#%@example.org", "/accounts/odd%2Fname%3F%23%25@example.org"),
    ],
)
def test_addresses_are_quoted_as_one_path_segment(
    api: FakeAdminApi, cli: AdminCli, address: str, raw_path: str
) -> None:
    api.reply("GET", raw_path, ACCOUNT)
    cli.ok("account", "show", address)
    assert api.last.raw_path == raw_path
    assert api.last.path == f"/accounts/{address}"


# --- credential discovery ------------------------------------------------------------------


def test_secrets_file_supplies_url_user_and_password(api: FakeAdminApi, tmp_path: Path) -> None:
    write_secrets(tmp_path, url="http://from-file.test:8010/api/v1", user=ADMIN_USER, password=ADMIN_PASSWORD)
    api.reply("GET", "/whoami", {"name": "admin", "role": "server", "domain": None})
    AdminCli(url=None, user=None, password=None, data_dir=tmp_path).ok("whoami")
    assert (api.last.host, api.last.user) == ("from-file.test", ADMIN_USER)


def test_data_dir_comes_from_the_environment(api: FakeAdminApi, tmp_path: Path) -> None:
    write_secrets(tmp_path, url=API_URL, user=ADMIN_USER, password=ADMIN_PASSWORD)
    api.reply("GET", "/whoami", {"name": "admin", "role": "server", "domain": None})
    AdminCli(url=None, user=None, password=None, env={"PARLEY_DATA_DIR": str(tmp_path)}).ok("whoami")
    assert api.last.user == ADMIN_USER


def test_environment_beats_the_file(api: FakeAdminApi, tmp_path: Path) -> None:
    write_secrets(tmp_path, url="http://from-file.test:8010", user="other", password="wrong")
    api.reply("GET", "/whoami", {"name": "admin", "role": "server", "domain": None})
    env = {
        "PARLEY_ADMIN_URL": "http://from-env.test:8010",
        "PARLEY_ADMIN_USER": ADMIN_USER,
        "PARLEY_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    AdminCli(url=None, user=None, password=None, data_dir=tmp_path, env=env).ok("whoami")
    assert (api.last.host, api.last.user) == ("from-env.test", ADMIN_USER)


def test_flags_beat_the_environment(api: FakeAdminApi, tmp_path: Path) -> None:
    api.reply("GET", "/whoami", {"name": "admin", "role": "server", "domain": None})
    env = {"PARLEY_ADMIN_URL": "http://from-env.test:8010", "PARLEY_ADMIN_USER": "other", "PARLEY_ADMIN_PASSWORD": "x"}
    AdminCli(url="http://from-flag.test:8010", data_dir=tmp_path, env=env).ok("whoami")
    assert (api.last.host, api.last.user) == ("from-flag.test", ADMIN_USER)


def test_default_url_when_no_file_gives_one(api: FakeAdminApi, tmp_path: Path) -> None:
    api.reply("GET", "/whoami", {"name": "admin", "role": "server", "domain": None})
    AdminCli(url=None, data_dir=tmp_path).ok("whoami")
    assert api.last.host == "127.0.0.1"


def test_file_password_is_only_used_for_the_file_user(api: FakeAdminApi, tmp_path: Path) -> None:
    write_secrets(tmp_path, user=ADMIN_USER, password=ADMIN_PASSWORD)
    api.reply("GET", "/whoami", {"name": "admin", "role": "server", "domain": None})
    AdminCli(user=ADMIN_USER, password=None, data_dir=tmp_path).ok("whoami")
    result = AdminCli(user="bob@example.org", password=None, data_dir=tmp_path).fails("whoami", exit_code=2)
    assert result.stderr.startswith("error: no password given for 'bob@example.org'")
    assert len(api.requests) == 1


def test_broken_file_does_not_block_a_complete_login(api: FakeAdminApi, tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "admin.json").write_text("{not json", encoding="utf-8")
    api.reply("GET", "/whoami", {"name": "admin", "role": "server", "domain": None})
    AdminCli(url=None, data_dir=tmp_path).ok("whoami")


def test_missing_credentials_explain_how_to_get_them(api: FakeAdminApi, tmp_path: Path) -> None:
    result = AdminCli(url=None, user=None, password=None, data_dir=tmp_path).fails("domain", "list", exit_code=2)
    assert "error: no admin credentials" in result.stderr
    assert "make run" in result.stderr and "parley up" in result.stderr and "--user/--password" in result.stderr
    assert api.requests == []


def test_broken_secrets_file_is_reported(api: FakeAdminApi, tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "admin.json").write_text("{not json", encoding="utf-8")
    result = AdminCli(url=None, user=None, password=None, data_dir=tmp_path).fails("whoami", exit_code=2)
    assert "not valid JSON" in result.stderr


def test_help_needs_no_credentials(tmp_path: Path) -> None:
    result = AdminCli(url=None, user=None, password=None, data_dir=tmp_path).ok("account", "--help")
    assert "settings" in result.stdout


# --- error rendering -----------------------------------------------------------------------


def test_wrong_password_is_401_with_a_hint(api: FakeAdminApi, tmp_path: Path) -> None:
    result = AdminCli(password="wrong", data_dir=tmp_path).fails("domain", "list", exit_code=1)
    assert result.stderr.splitlines()[0] == "error: invalid credentials"
    assert "hint:" in result.stderr
    assert result.stdout == ""


def test_not_found_shows_the_detail(api: FakeAdminApi, cli: AdminCli) -> None:
    api.fail("GET", "/accounts/nobody@example.org", 404, "account nobody@example.org not found")
    result = cli.fails("account", "show", "nobody@example.org", exit_code=1)
    assert result.stderr == "error: account nobody@example.org not found\n"


def test_conflict_shows_the_detail(api: FakeAdminApi, cli: AdminCli) -> None:
    api.fail("DELETE", "/domains/example.org", 409, "domain example.org still has 3 accounts")
    result = cli.fails("domain", "delete", "example.org", exit_code=1)
    assert result.stderr == "error: domain example.org still has 3 accounts\n"


def test_validation_errors_are_field_message_lines(api: FakeAdminApi, cli: AdminCli) -> None:
    detail = [
        {"type": "value_error", "loc": ["body", "address"], "msg": "value is not a valid email address", "input": "x"},
        {"type": "missing", "loc": ["body", "targets", 0], "msg": "Field required", "input": {}},
    ]
    api.fail("POST", "/forwarders", 422, detail)
    result = cli.fails("forwarder", "create", "x", "y", exit_code=1)
    assert result.stderr.splitlines() == [
        "error: address: value is not a valid email address",
        "error: targets.0: Field required",
    ]


def test_a_reply_that_is_not_the_api_is_described(api: FakeAdminApi, cli: AdminCli) -> None:
    api.replies[("GET", "/domains")] = httpx.Response(502, text="<html>Bad Gateway</html>")
    result = cli.fails("domain", "list", exit_code=1)
    assert result.stderr == "error: HTTP 502 Bad Gateway\n"


def test_connection_refused_exits_3(monkeypatch: pytest.MonkeyPatch, cli: AdminCli) -> None:
    refused = unreachable(httpx.ConnectError("[Errno 111] Connection refused"))
    monkeypatch.setattr(_client, "transport_override", refused)
    result = cli.fails("domain", "list", exit_code=3)
    assert result.stderr == f"error: cannot reach the admin API at {API_URL}: is the suite running? (make run)\n"


def test_timeout_exits_3(monkeypatch: pytest.MonkeyPatch, cli: AdminCli) -> None:
    monkeypatch.setattr(_client, "transport_override", unreachable(httpx.ReadTimeout("timed out")))
    assert "did not answer" in cli.fails("whoami", exit_code=3).stderr


def test_url_without_scheme_is_a_setup_error(api: FakeAdminApi, tmp_path: Path) -> None:
    result = AdminCli(url="localhost:8010", data_dir=tmp_path).fails("whoami", exit_code=2)
    assert "http://" in result.stderr


# --- JSON output ---------------------------------------------------------------------------


def test_json_prints_the_reply_unchanged(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("GET", "/domains/example.org", DOMAIN)
    api.reply("GET", "/accounts", [ACCOUNT])
    assert cli.json("domain", "show", "example.org") == DOMAIN
    assert cli.json("account", "list") == [ACCOUNT]


def test_json_keeps_unicode_readable(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("GET", "/domains/exämple.org".replace("ä", "%C3%A4"), {**DOMAIN, "name": "exämple.org"})
    assert '"exämple.org"' in cli.ok("domain", "show", "exämple.org", "--json").stdout


def test_json_of_an_empty_reply_prints_nothing(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("DELETE", "/aliases/info@example.org", status=204)
    assert cli.ok("alias", "delete", "info@example.org", "--json").stdout == ""
    assert cli.ok("alias", "delete", "info@example.org").stdout == "deleted alias info@example.org\n"


def test_empty_list_says_so(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("GET", "/groups", [])
    assert cli.ok("group", "list").stdout == "no groups\n"
    assert cli.json("group", "list") == []


# --- account settings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("42", 42),
        ("true", True),
        ("dark", "dark"),
        ('"007"', "007"),
        ("007", "007"),
        ('{"a": [1, 2]}', {"a": [1, 2]}),
        ("NaN", "NaN"),
        ("", ""),
        ("null", None),
    ],
)
def test_settings_set_parses_json_else_string(api: FakeAdminApi, cli: AdminCli, typed: str, sent: Any) -> None:
    api.reply("PATCH", "/accounts/alice@example.org/settings", {"theme": sent})
    cli.ok("account", "settings", "set", "alice@example.org", "theme", typed)
    assert (api.last.method, api.last.body) == ("PATCH", {"theme": sent})


def test_settings_unset_patches_null(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("PATCH", "/accounts/alice@example.org/settings", {})
    assert cli.json("account", "settings", "unset", "alice@example.org", "theme") == {}
    assert api.last.body == {"theme": None}


def test_settings_get_one_key(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply("GET", "/accounts/alice@example.org/settings", {"theme": "dark", "size": 3})
    assert cli.ok("account", "settings", "get", "alice@example.org", "theme").stdout == "dark\n"
    assert cli.json("account", "settings", "get", "alice@example.org", "size") == 3
    assert cli.json("account", "settings", "get", "alice@example.org") == {"theme": "dark", "size": 3}
    result = cli.fails("account", "settings", "get", "alice@example.org", "missing", exit_code=1)
    assert result.stderr == "error: alice@example.org has no setting 'missing'\n"


# --- pure helpers --------------------------------------------------------------------------


def test_parse_json_or_string() -> None:
    assert parse_json_or_string("[1]") == [1]
    assert parse_json_or_string("Infinity") == "Infinity"
    assert parse_json_or_string("{broken") == "{broken"


def test_parse_quota() -> None:
    assert parse_quota("none", option="--quota-bytes") is None
    assert parse_quota("Unlimited", option="--quota-bytes") is None
    assert parse_quota("0", option="--quota-bytes") == 0


def test_normalize_base_url() -> None:
    assert normalize_base_url("http://h:8010/") == "http://h:8010"
    assert normalize_base_url("http://h:8010/api/v1/") == "http://h:8010"


def test_resource_quotes_each_segment() -> None:
    assert resource("groups", "a+b@x.org", "members", "c d@x.org") == "/groups/a%2Bb@x.org/members/c%20d@x.org"
    assert quote_segment("../admins") == "..%2Fadmins"


def test_error_details_of_unusual_bodies() -> None:
    assert error_details(httpx.Response(400, json={"detail": {"code": "x"}})) == ['{"code": "x"}']
    assert error_details(httpx.Response(500, text="boom")) == ["HTTP 500 Internal Server Error: boom"]
    assert error_details(httpx.Response(422, json={"detail": [{"loc": ["body"], "msg": "Field required"}]})) == [
        "body: Field required"
    ]


def test_alias_set_puts_the_new_target(api: FakeAdminApi, cli: AdminCli) -> None:
    api.reply(
        "PUT",
        "/aliases/info@example.org",
        {"address": "info@example.org", "domain": "example.org", "target": "bob@example.org"},
    )
    cli.ok("alias", "set", "info@example.org", "bob@example.org")
    assert [(r.method, r.body) for r in api.requests] == [("PUT", {"target": "bob@example.org"})]
