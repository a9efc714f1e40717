"""The POP3 service over real sockets with Python's poplib: TLS, logins, the
maildrop byte for byte, deletions in the UPDATE state only, and locking."""

from __future__ import annotations

import base64
import poplib
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest

from libs.auth import scram
from libs.bus import Bus
from services.pop3._mailstore import MailStore
from tests.pop3.integration.conftest import LOCK_TTL, LOGIN_TIMEOUT, PASSWORD, PREAUTH_TIMEOUT, Pop3Suite

pytestmark = pytest.mark.timeout(120)

MESSAGES = (
    b"From: bob@example.test\r\nTo: user\r\nSubject: first\r\n\r\nHello\r\n",
    b"Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast line\r\n",
    b"Subject: three\r\n\r\n" + b"".join(b"line %d\r\n" % n for n in range(50)),
)


def client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the service's self-signed certificate
    return context


def stls_login(suite: Pop3Suite, account: str, port: int | None = None) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", port or suite.pop3.port, timeout=20)
    client.stls(context=client_context())
    client.user(account)
    client.pass_(PASSWORD)
    return client


def ssl_login(suite: Pop3Suite, account: str, port: int | None = None) -> poplib.POP3_SSL:
    client = poplib.POP3_SSL("127.0.0.1", port or suite.pop3.tls_port, timeout=20, context=client_context())
    client.user(account)
    client.pass_(PASSWORD)
    return client


def wire(lines: list[bytes]) -> bytes:
    """What poplib returns (unstuffed lines) as the message's bytes."""
    return b"".join(line + b"\r\n" for line in lines)


def test_stls_user_pass_and_the_maildrop_byte_for_byte(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    uids = pop3_suite.deliver(account, *MESSAGES)
    uidvalidity, _ = pop3_suite.uids(account)
    client = poplib.POP3("127.0.0.1", pop3_suite.pop3.port, timeout=20)
    assert client.getwelcome() == b"+OK pop.example.test POP3 server ready"
    capabilities = client.capa()
    assert "STLS" in capabilities and "USER" not in capabilities
    assert capabilities["SASL"] == ["SCRAM-SHA-256"]
    client.stls(context=client_context())
    capabilities = client.capa()
    assert {"USER", "TOP", "UIDL", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE"} <= capabilities.keys()
    assert capabilities["SASL"] == ["SCRAM-SHA-256", "PLAIN"] and capabilities["EXPIRE"] == ["NEVER"]
    client.user(account)
    assert client.pass_(PASSWORD).startswith(b"+OK Logged in, maildrop has 3 messages")
    assert client.stat() == (3, sum(len(m) for m in MESSAGES))
    _, listing, _ = client.list()
    assert listing == [b"%d %d" % (n, len(m)) for n, m in enumerate(MESSAGES, start=1)]
    _, unique_ids, _ = client.uidl()
    assert unique_ids == [b"%d %d.%d" % (n, uidvalidity, uid) for n, uid in enumerate(uids, start=1)]
    for number, message in enumerate(MESSAGES, start=1):
        response, lines, octets = client.retr(number)
        assert response == b"+OK %d octets" % len(message)
        assert wire(lines) == message
    _, lines, _ = client.top(3, 2)
    assert wire(lines) == b"Subject: three\r\n\r\nline 0\r\nline 1\r\n"
    assert client.quit().startswith(b"+OK pop.example.test POP3 server signing off")
    # RETR marks messages \Seen for IMAP clients of the same account.
    assert all("\\Seen" in flags for flags in pop3_suite.flags(account).values())
    assert pop3_suite.uids(account)[1] == uids


def test_implicit_tls_and_auth_plain(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    pop3_suite.deliver(account, MESSAGES[0])
    client = poplib.POP3_SSL("127.0.0.1", pop3_suite.pop3.tls_port, timeout=20, context=client_context())
    assert "STLS" not in client.capa()
    token = base64.b64encode(f"\0{account}\0{PASSWORD}".encode()).decode()
    assert client._shortcmd(f"AUTH PLAIN {token}").startswith(b"+OK Logged in, maildrop has 1 messages")
    assert wire(client.retr(1)[1]) == MESSAGES[0]
    client.quit()


def test_scram_sha_256_without_tls(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    client = poplib.POP3("127.0.0.1", pop3_suite.pop3.port, timeout=20)
    client_first_bare = f"n={account},r=clientNonce123"
    challenge = client._shortcmd("AUTH SCRAM-SHA-256 " + base64.b64encode(b"n,," + client_first_bare.encode()).decode())
    assert challenge.startswith(b"+ ")
    server_first = base64.b64decode(challenge[2:]).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    assert fields["r"].startswith("clientNonce123")
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}"
    proof, signature = scram.client_proof(
        PASSWORD, salt=base64.b64decode(fields["s"]), iterations=int(fields["i"]), auth_message=auth_message
    )
    final = client._shortcmd(base64.b64encode(f"{without_proof},p={proof}".encode()).decode())
    assert base64.b64decode(final[2:]).decode() == f"v={signature}"
    assert client._shortcmd("").startswith(b"+OK Logged in, maildrop has 0 messages")
    client.quit()


def test_passwords_are_refused_before_tls(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    client = poplib.POP3("127.0.0.1", pop3_suite.pop3.port, timeout=20)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Plaintext authentication disallowed"):
        client.user(account)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Plaintext"):
        client._shortcmd("AUTH PLAIN " + base64.b64encode(f"\0{account}\0{PASSWORD}".encode()).decode())
    client.quit()


def test_wrong_password_gets_auth_code(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    client = poplib.POP3_SSL("127.0.0.1", pop3_suite.pop3.tls_port, timeout=20, context=client_context())
    client.user(account)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] Authentication failed"):
        client.pass_("wrong")
    client.quit()


def test_dele_and_quit_remove_exactly_those_messages(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    uids = pop3_suite.deliver(account, *MESSAGES, b"Subject: four\r\n\r\nflagged by IMAP\r\n")
    # An IMAP client flagged the fourth \Deleted without expunging: POP3 must leave it.
    pop3_suite.store_flags(account, uids[3], "\\Deleted")
    client = ssl_login(pop3_suite, account)
    client.dele(1)
    client.dele(3)
    with pytest.raises(poplib.error_proto, match="already deleted"):
        client.retr(1)
    assert client.stat()[0] == 2
    assert client.quit().endswith(b"(2 messages deleted)")
    assert pop3_suite.uids(account)[1] == [uids[1], uids[3]]


def test_rset_keeps_everything(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    uids = pop3_suite.deliver(account, *MESSAGES)
    client = ssl_login(pop3_suite, account)
    client.dele(1)
    client.dele(2)
    client.rset()
    assert client.quit().endswith(b"(0 messages deleted)")
    assert pop3_suite.uids(account)[1] == uids


def test_a_dropped_connection_removes_nothing_and_frees_the_lock(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    uids = pop3_suite.deliver(account, *MESSAGES)
    client = ssl_login(pop3_suite, account)
    for number in (1, 2, 3):
        client.dele(number)
    client.close()  # the socket goes, no QUIT: RFC 1939 section 6, no UPDATE state
    deadline = time.monotonic() + 10
    while True:
        try:
            second = ssl_login(pop3_suite, account)
            break
        except poplib.error_proto as exc:
            assert b"[IN-USE]" in exc.args[0] and time.monotonic() < deadline
            time.sleep(0.1)
    assert second.stat()[0] == 3
    second.quit()
    assert pop3_suite.uids(account)[1] == uids


def test_a_second_session_gets_in_use_on_any_replica(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    pop3_suite.deliver(account, MESSAGES[0])
    replica = pop3_suite.start_pop3("replica")
    first = ssl_login(pop3_suite, account)
    for port in (pop3_suite.pop3.tls_port, replica.tls_port):
        other = poplib.POP3_SSL("127.0.0.1", port, timeout=20, context=client_context())
        other.user(account)
        with pytest.raises(poplib.error_proto, match=r"-ERR \[IN-USE\]"):
            other.pass_(PASSWORD)
        other.quit()
    # The lock is refreshed while the session lasts longer than its TTL.
    time.sleep(LOCK_TTL * 1.5)
    other = poplib.POP3_SSL("127.0.0.1", replica.tls_port, timeout=20, context=client_context())
    other.user(account)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        other.pass_(PASSWORD)
    first.quit()
    other.user(account)
    assert other.pass_(PASSWORD).startswith(b"+OK Logged in")
    other.quit()


def test_the_lock_of_a_killed_process_expires(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    uids = pop3_suite.deliver(account, *MESSAGES)
    doomed = pop3_suite.start_pop3("doomed")
    client = ssl_login(pop3_suite, account, port=doomed.tls_port)
    client.dele(1)
    doomed.process.kill()
    started = time.monotonic()
    while True:
        try:
            survivor = ssl_login(pop3_suite, account)
            break
        except poplib.error_proto as exc:
            assert b"[IN-USE]" in exc.args[0]
            assert time.monotonic() - started < LOCK_TTL + 10, "the lock never expired"
            time.sleep(0.2)
    assert survivor.stat()[0] == 3
    survivor.quit()
    assert pop3_suite.uids(account)[1] == uids


def test_a_big_message_is_streamed_byte_for_byte(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    line = b".dot-stuffed " + b"x" * 60 + b"\r\n"
    message = b"Subject: big\r\n\r\n" + line * (8 * 1024 * 1024 // len(line))
    pop3_suite.deliver(account, message)
    client = ssl_login(pop3_suite, account)
    response, lines, octets = client.retr(1)
    assert response == b"+OK %d octets" % len(message)
    assert wire(lines) == message
    client.quit()


def raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert sock.recv(1024).startswith(b"+OK")
    return sock


def read_reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_bad_input_gets_err_and_the_connection_survives(pop3_suite: Pop3Suite) -> None:
    sock = raw(pop3_suite.pop3.port)
    sock.sendall(b"USER " + b"a" * 100_000 + b"\r\n")
    assert read_reply(sock) == b"-ERR Line too long\r\n"
    sock.sendall(b"\x00\xff\xfe junk\r\n")
    assert read_reply(sock) == b"-ERR Invalid characters in command\r\n"
    sock.sendall(b"RETR 1\r\n")
    assert read_reply(sock) == b"-ERR Command not valid in this state\r\n"
    sock.sendall(b"CAPA\r\n")
    assert read_reply(sock).startswith(b"+OK")
    sock.close()


def test_too_many_errors_close_the_connection(pop3_suite: Pop3Suite) -> None:
    sock = raw(pop3_suite.pop3.port)
    sock.sendall(b"JUNK\r\n" * 10)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    assert received.endswith(b"-ERR Too many errors, closing connection\r\n")
    assert received.count(b"\r\n") == 10


def test_an_idle_client_is_logged_out_without_a_reply(pop3_suite: Pop3Suite) -> None:
    sock = raw(pop3_suite.pop3.port)
    started = time.monotonic()
    assert sock.recv(1024) == b""
    assert PREAUTH_TIMEOUT - 0.5 < time.monotonic() - started < PREAUTH_TIMEOUT + 5


def test_ops_port_serves_health_and_metrics(pop3_suite: Pop3Suite) -> None:
    base = f"http://127.0.0.1:{pop3_suite.pop3.ops_port}"
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{base}/readyz").json()["ready"] is True
    metrics = httpx.get(f"{base}/metrics").text
    assert "parley_pop3_sessions_total" in metrics
    assert "parley_pop3_logins_total" in metrics


def test_the_directory_throttle_answers_login_delay(pop3_suite: Pop3Suite) -> None:
    """After ten failed logins the directory throttles the account (docs/directory.md):
    POP3 says [LOGIN-DELAY], also for the right password, and the session stays open."""
    account = pop3_suite.new_account()
    answers: list[bytes] = []
    for _ in range(6):  # two failures per session: the third would close it
        client = poplib.POP3_SSL("127.0.0.1", pop3_suite.pop3.tls_port, timeout=20, context=client_context())
        for _ in range(2):
            client.user(account)
            with pytest.raises(poplib.error_proto) as refused:
                client.pass_("wrong password")
            answers.append(refused.value.args[0])
        client.quit()
    assert answers[0] == b"-ERR [AUTH] Authentication failed"
    assert answers[-1].startswith(b"-ERR [LOGIN-DELAY]")
    client = poplib.POP3_SSL("127.0.0.1", pop3_suite.pop3.tls_port, timeout=20, context=client_context())
    client.user(account)
    with pytest.raises(poplib.error_proto, match=r"\[LOGIN-DELAY\]"):
        client.pass_(PASSWORD)
    assert client.capa()  # throttled logins do not close the session
    client.quit()


async def test_the_scan_listing_is_read_in_pages_and_removal_names_only_given_uids(pop3_suite: Pop3Suite) -> None:
    """MailStore against the real storage: pages of two, and an expunge of exactly the UIDs given."""
    account = pop3_suite.new_account()
    uids = await pop3_suite._deliver(account, tuple(b"Subject: %d\r\n\r\nbody\r\n" % n for n in range(5)))
    bus = await Bus.open(pop3_suite.nats_url, name="pop3-tests")
    try:
        store = MailStore(bus, page=2)
        maildrop = await store.scan(account)
        assert [m.uid for m in maildrop.messages] == uids
        assert all(m.size == len(b"Subject: 0\r\n\r\nbody\r\n") and len(m.ref) == 64 for m in maildrop.messages)
        assert await store.remove(account, [uids[0], uids[1], uids[3]]) == 3
        assert [m.uid for m in (await store.scan(account)).messages] == [uids[2], uids[4]]
        assert (await store.scan("nobody@unknown.test")).messages == ()
    finally:
        await bus.close()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def test_retr_of_a_huge_message_does_not_hold_it_in_memory(pop3_suite: Pop3Suite) -> None:
    """A 48 MiB message goes out piece by piece: the pop3 process's peak memory grows by far less."""
    account = pop3_suite.new_account()
    line = b"0123456789" * 7 + b"\r\n"
    size = 48 * 1024 * 1024
    message = b"Subject: huge\r\n\r\n" + line * (size // len(line))
    pop3_suite.deliver(account, message)
    process = pop3_suite.pop3.process.process
    assert process is not None
    before = peak_rss_kib(process.pid)
    sock = socket.create_connection(("127.0.0.1", pop3_suite.pop3.tls_port), timeout=30)
    tls = client_context().wrap_socket(sock)
    tls.sendall(b"USER " + account.encode() + b"\r\nPASS " + PASSWORD.encode() + b"\r\nRETR 1\r\nQUIT\r\n")
    received = bytearray()
    while chunk := tls.recv(1024 * 1024):
        received += chunk
    tls.close()
    assert received.endswith(b"\r\n.\r\n+OK pop.example.test POP3 server signing off (0 messages deleted)\r\n")
    body = received[received.index(b"octets\r\n") + len(b"octets\r\n") : received.rindex(b".\r\n+OK")]
    assert bytes(body) == message
    grown_mib = (peak_rss_kib(process.pid) - before) / 1024
    assert grown_mib < 16, f"the pop3 process grew by {grown_mib:.0f} MiB sending a 48 MiB message"


def test_a_shutdown_removes_nothing_and_releases_the_lock(pop3_suite: Pop3Suite) -> None:
    account = pop3_suite.new_account()
    uids = pop3_suite.deliver(account, *MESSAGES)
    stopping = pop3_suite.start_pop3("stopping")
    client = ssl_login(pop3_suite, account, port=stopping.tls_port)
    client.dele(1)
    assert stopping.process.stop() == 0  # SIGTERM: open sessions get their grace, then are cut
    other = ssl_login(pop3_suite, account)  # at once, not after the lock's TTL
    assert other.stat()[0] == 3
    other.quit()
    assert pop3_suite.uids(account)[1] == uids


def test_too_many_connections_from_one_address_are_refused(pop3_suite: Pop3Suite) -> None:
    open_ones = [raw(pop3_suite.pop3.port) for _ in range(20)]  # PARLEY_POP3_MAX_CONNECTIONS_PER_CLIENT
    try:
        extra = socket.create_connection(("127.0.0.1", pop3_suite.pop3.port), timeout=10)
        assert read_reply(extra) == b"-ERR [SYS/TEMP] Too many connections from your address\r\n"
        assert extra.recv(10) == b""
        extra.close()
    finally:
        for sock in open_ones:
            sock.close()
    time.sleep(0.5)
    raw(pop3_suite.pop3.port).close()  # room again


def test_a_client_that_trickles_bytes_is_cut_at_the_login_deadline(pop3_suite: Pop3Suite) -> None:
    sock = raw(pop3_suite.pop3.port)
    started = time.monotonic()
    sock.settimeout(1)
    closed = False
    while time.monotonic() - started < LOGIN_TIMEOUT + 5:
        try:
            sock.sendall(b"U")  # never idle for PREAUTH_TIMEOUT, never a whole line
            if sock.recv(1024) == b"":
                closed = True
                break
        except TimeoutError:
            continue
        except ConnectionError:
            closed = True
            break
    assert closed
    assert LOGIN_TIMEOUT - 0.5 < time.monotonic() - started < LOGIN_TIMEOUT + 3
