"""Bad input gets BAD or NO, the service stays up, and other sessions are not affected."""

from __future__ import annotations

import time

import pytest

from tests.imap.integration.conftest import APPEND_LIMIT, PREAUTH_TIMEOUT, ImapSuite, RawClient


@pytest.fixture
def bystander(imap_suite: ImapSuite):
    """A session that keeps working while another one misbehaves."""
    client = RawClient(imap_suite.tls_port)
    client.login()
    client.command("b0 SELECT INBOX")
    yield client
    assert client.command("b9 NOOP")[-1].startswith(b"b9 OK")
    client.close()


def test_unbounded_line_is_refused(imap_suite: ImapSuite, bystander: RawClient) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login()
    client.send(b"x1 NOOP " + b"A" * (1024 * 1024) + b"\r\n")
    assert client.until_tagged(b"x1")[-1].startswith(b"x1 BAD [TOOBIG]")
    assert client.command("x2 NOOP")[-1].startswith(b"x2 OK")
    client.close()


def test_huge_literal_announced_but_not_sent(imap_suite: ImapSuite, bystander: RawClient) -> None:
    client = RawClient(imap_suite.tls_port)
    reply = client.command(b"x1 LOGIN {4000000000}")
    assert reply[-1].startswith(b"x1 BAD [TOOBIG]")
    client.login()
    client.send(b"x2 APPEND INBOX {1000}\r\n")
    assert client.line().startswith(b"+")
    # ... and never sent: the other session goes on meanwhile (the fixture checks it).
    assert bystander.command("b1 NOOP")[-1].startswith(b"b1 OK")
    client.close()


def test_literal_over_appendlimit(imap_suite: ImapSuite, bystander: RawClient) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login()
    reply = client.command(b"x1 APPEND INBOX {%d}" % (APPEND_LIMIT + 1))
    assert reply[-1].startswith(b"x1 NO [TOOBIG]")
    assert client.command("x2 NOOP")[-1].startswith(b"x2 OK")
    client.close()


def test_deeply_nested_parentheses(imap_suite: ImapSuite, bystander: RawClient) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login()
    client.command("x0 SELECT INBOX")
    reply = client.command(b"x1 SEARCH " + b"(" * 1000 + b"ALL" + b")" * 1000)
    assert reply[-1].startswith(b"x1 BAD")
    reply = client.command(b"x2 FETCH 1 " + b"(" * 1000 + b"FLAGS" + b")" * 1000)
    assert reply[-1].startswith(b"x2 BAD")
    assert client.command("x3 NOOP")[-1].startswith(b"x3 OK")
    client.close()


@pytest.mark.parametrize(
    ("command", "status"),
    [
        ('x1 CREATE "a//b"', b"NO"),
        ('x1 CREATE "a/../b"', b"NO"),
        ('x1 CREATE "with*star"', b"NO"),
        ('x1 CREATE "&Jjo-!"', b"OK"),  # modified UTF-7, decoded
        ('x1 CREATE "&Jjo"', b"BAD"),  # broken modified UTF-7
        ('x1 SELECT "no/such/box"', b"NO"),
        ("x1 DELETE INBOX", b"NO"),
    ],
)
def test_invalid_mailbox_names(imap_suite: ImapSuite, bystander: RawClient, command: str, status: bytes) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login()
    reply = client.command(command)
    assert reply[-1].split()[1] == status, reply
    client.close()


def test_commands_in_the_wrong_state(imap_suite: ImapSuite, bystander: RawClient) -> None:
    client = RawClient(imap_suite.tls_port)
    assert client.command("x1 SELECT INBOX")[-1].startswith(b"x1 BAD")
    assert client.command("x2 FETCH 1 FLAGS")[-1].startswith(b"x2 BAD")
    client.login()
    assert client.command("x3 FETCH 1 FLAGS")[-1].startswith(b"x3 BAD")
    assert client.command("x4 EXPUNGE")[-1].startswith(b"x4 BAD")
    assert client.command("x5 LOGIN a b")[-1].startswith(b"x5 BAD")
    client.command("x6 SELECT INBOX")
    assert client.command("x7 FETCH 999999 FLAGS")[-1].startswith(b"x7 BAD")
    assert client.command("x8 GETACL")[-1].startswith(b"x8 BAD")
    client.close()


def test_silent_client_is_logged_out_before_login(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port, timeout=PREAUTH_TIMEOUT + 10)
    started = time.monotonic()
    assert client.line().startswith(b"* BYE")
    assert time.monotonic() - started < PREAUTH_TIMEOUT + 5
    client.close()


def test_service_is_healthy_after_all_that(imap_suite: ImapSuite) -> None:
    import httpx

    assert httpx.get(f"http://127.0.0.1:{imap_suite.ops_port}/readyz", timeout=5).status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{imap_suite.ops_port}/metrics", timeout=5).text
    assert "parley_imap_sessions_total" in metrics


def test_a_client_that_never_reads_is_dropped(imap_suite: ImapSuite, tmp_path) -> None:
    """With a short write timeout, a client that stops reading a large FETCH is cut off alone."""
    import httpx

    from tests.imap.integration.conftest import start_imap

    blob_env = {"PARLEY_BLOB_BACKEND": "local", "PARLEY_BLOB_LOCAL_DIR": str(imap_suite.blob_dir)}
    process, _, tls_port, ops = start_imap(tmp_path, imap_suite.nats_url, blob_env, PARLEY_IMAP_WRITE_TIMEOUT="2")
    try:
        big = b"From: a@example.org\r\nSubject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 4000
        for _ in range(4):
            imap_suite.deliver(big, mailbox="Drafts")  # 4 x 4 MB, fetched three times over
        stalled = RawClient(tls_port)
        stalled.login()
        stalled.command("w1 SELECT Drafts")
        stalled.send(b"w2 FETCH 1:* (BODY.PEEK[] BODY.PEEK[TEXT] BODY.PEEK[1])\r\n")  # and never read

        def open_sessions() -> float:
            text = httpx.get(f"http://127.0.0.1:{ops}/metrics", timeout=5).text
            return sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("parley_imap_sessions_open{")
            )

        other = RawClient(tls_port)
        other.login()
        assert other.command("o1 NOOP")[-1].startswith(b"o1 OK")
        assert open_sessions() == 2
        deadline = time.monotonic() + 20
        while open_sessions() > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert open_sessions() == 1
        assert other.command("o2 NOOP")[-1].startswith(b"o2 OK")
        other.close()
        stalled.close()
    finally:
        process.stop()


def test_commands_pipelined_after_starttls_are_never_run(imap_suite: ImapSuite) -> None:
    """CVE-2011-0411: what followed STARTTLS in the clear is dropped, not read as if under TLS."""
    from tests.imap.integration.conftest import insecure_context

    client = RawClient(imap_suite.port, tls=False)
    assert b"STARTTLS" in client.greeting and b"LOGINDISABLED" in client.greeting
    client.send(b"t1 STARTTLS\r\nt2 LOGOUT\r\n")
    assert client.line().startswith(b"t1 OK")
    client.sock = insecure_context().wrap_socket(client.sock)
    client.buffer = b""
    reply = client.command("t3 CAPABILITY")
    assert reply[0].startswith(b"* CAPABILITY") and b"STARTTLS" not in reply[0] and b"AUTH=PLAIN" in reply[0]
    assert reply[-1].startswith(b"t3 OK")
    client.login()
    client.close()


def test_connections_per_client_and_sessions_per_account_are_limited(imap_suite: ImapSuite, tmp_path) -> None:
    from tests.imap.integration.conftest import start_imap

    blob_env = {"PARLEY_BLOB_BACKEND": "local", "PARLEY_BLOB_LOCAL_DIR": str(imap_suite.blob_dir)}
    process, _, tls_port, _ = start_imap(
        tmp_path, imap_suite.nats_url, blob_env,
        PARLEY_IMAP_MAX_CONNECTIONS_PER_ACCOUNT="2", PARLEY_IMAP_MAX_CONNECTIONS_PER_CLIENT="3",
    )  # fmt: skip
    try:
        first, second, third = RawClient(tls_port), RawClient(tls_port), RawClient(tls_port)
        first.login()
        second.login()
        assert third.command('l1 LOGIN alice@example.test "correct horse battery staple"')[-1].startswith(
            b"l1 NO [LIMIT]"
        )
        assert RawClient(tls_port).greeting.startswith(b"* BYE")  # a fourth connection from here
        first.command("l2 LOGOUT")
        first.close()
        time.sleep(0.3)
        third.login()
        second.close()
        third.close()
    finally:
        process.stop()
