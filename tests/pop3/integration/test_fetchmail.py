"""A real client drains the maildrop: fetchmail (Debian package fetchmail)
fetches every message over POP3, hands each to an MDA that writes a file,
and deletes it on the server; a second run finds nothing.

Run over implicit TLS and over STLS; in both, the password goes out only
under TLS (the service refuses USER before it), so a successful run also
shows that fetchmail negotiated TLS.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.pop3.integration.conftest import PASSWORD, Pop3Suite

pytestmark = pytest.mark.timeout(180)

MESSAGES = (
    b"From: bob@example.test\r\nSubject: one\r\n\r\nfirst body\r\n",
    b"From: carol@example.test\r\nSubject: two\r\n\r\n.leading dot\r\n..and two\r\nend\r\n",
    b"From: dave@example.test\r\nSubject: three\r\n\r\n" + b"a line of text\r\n" * 5000,
)
MDA = '#!/bin/sh\nexec cat > "$1/$(date +%s%N).$$.eml"\n'


def run_fetchmail(
    tmp_path: Path, *, port: int, account: str, implicit_tls: bool, password: str = PASSWORD
) -> tuple[int, str, list[bytes]]:
    home = tmp_path / "home"
    maildir = tmp_path / "delivered"
    home.mkdir(exist_ok=True)
    maildir.mkdir(exist_ok=True)
    mda = tmp_path / "mda.sh"
    mda.write_text(MDA)
    rc = home / ".fetchmailrc"
    tls = "ssl no sslcertck" if implicit_tls else "sslproto tls1.2+ no sslcertck"
    rc.write_text(
        "set no syslog\nset invisible\n"
        f"poll 127.0.0.1 protocol pop3 port {port} auth password timeout 30\n"
        f'  user "{account}" there with password "{password}" is "tester" here\n'
        f"  options {tls} fetchall no rewrite\n"
        f'  mda "/bin/sh {mda} {maildir}"\n'
    )
    rc.chmod(0o600)
    result = subprocess.run(
        ["fetchmail", "-f", str(rc), "--pidfile", str(home / "fetchmail.pid"), "-v"],
        env={**os.environ, "HOME": str(home), "FETCHMAILHOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    delivered = [path.read_bytes() for path in sorted(maildir.iterdir())]
    return result.returncode, result.stdout + result.stderr, delivered


@pytest.mark.parametrize("implicit_tls", [True, False], ids=["pop3s", "stls"])
def test_fetchmail_drains_the_maildrop(pop3_suite: Pop3Suite, tmp_path: Path, implicit_tls: bool) -> None:
    account = pop3_suite.new_account()
    pop3_suite.deliver(account, *MESSAGES)
    port = pop3_suite.pop3.tls_port if implicit_tls else pop3_suite.pop3.port
    code, log, delivered = run_fetchmail(tmp_path, port=port, account=account, implicit_tls=implicit_tls)
    assert code == 0, log
    # fetchmail hands the MDA Unix line ends; the content is otherwise the stored message.
    expected = sorted(m.replace(b"\r\n", b"\n") for m in MESSAGES)
    assert sorted(delivered) == expected, log
    assert pop3_suite.uids(account)[1] == [], "fetchmail deleted every message it fetched"
    code, log, delivered = run_fetchmail(tmp_path, port=port, account=account, implicit_tls=implicit_tls)
    assert code == 1, log  # 1: no mail
    assert len(delivered) == 3
