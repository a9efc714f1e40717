"""sipp (Debian sip-tester), a real SIP test client, against the running service.

- REGISTER with digest (`register_auth.xml`): 401, credentials, 200.
- A call UAC -> proxy -> UAS (`uac_call.xml`, `uas_answer.xml`): the UAS
  registers its address for bob first, then answers; INVITE, 180, 200, ACK
  and BYE go through the proxy along the Record-Route.
- An instant message (`uac_message.xml`, `uas_message.xml`): MESSAGE through
  the proxy to bob's registered sipp, 200 back.
- A watcher (`subscribe_presence.xml`): SUBSCRIBE with digest, NOTIFY with
  PIDF, unsubscribe, final NOTIFY terminated.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from libs.testing.ports import free_ports
from tests.sip.integration.conftest import SipSuite

SCENARIOS = Path(__file__).parent.parent / "sipp"

# sipp reads a password up to the first space.
PASSWORD = "correct-horse-battery-staple"
# sipp answers only MD5 challenges, and only the first one: offer MD5 first here.
SIP_ENV = {"PARLEY_SIP_DIGEST_ALGORITHMS": '["MD5", "SHA-256"]'}


def sipp(scenario: str, target: str, injection: Path, *extra: str, port: int, calls: int = 1,
         timeout: float = 20) -> subprocess.CompletedProcess[str]:  # fmt: skip
    command = ["sipp", target, "-sf", str(SCENARIOS / scenario), "-inf", str(injection), "-i", "127.0.0.1",
               "-p", str(port), "-m", str(calls), "-r", "50", "-timeout", f"{int(timeout)}s", "-timeout_error",
               "-nostdin", "-trace_err", "-error_file", str(injection.with_suffix(".err")),
               *extra]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout + 10, cwd=injection.parent)


def register_row(user: str, domain: str, contact: str) -> str:
    # sipp reads the credentials of [authentication] from an injection field as a whole.
    return f"{user};{domain};{PASSWORD};{contact};[authentication username={user} password={PASSWORD}]"


def injection(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / f"{name}.csv"
    path.write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
    return path


def errors(path: Path) -> str:
    err = path.with_suffix(".err")
    return err.read_text(errors="replace")[-3000:] if err.exists() else ""


def test_sipp_registers_with_digest(sip_suite: SipSuite, tmp_path: Path) -> None:
    domain = sip_suite.new_domain(PASSWORD)
    (port,) = free_ports(1)
    rows = [register_row("alice", domain, f"127.0.0.1:{port}"), register_row("bob", domain, f"127.0.0.1:{port}")]
    inf = injection(tmp_path, "register", rows)
    result = sipp("register_auth.xml", f"127.0.0.1:{sip_suite.sip.port}", inf, port=port, calls=2)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:] + errors(inf)


def test_sipp_call_through_the_proxy(sip_suite: SipSuite, tmp_path: Path) -> None:
    domain = sip_suite.new_domain(PASSWORD)
    register_port, uas_port, uac_port = free_ports(3)
    target = f"127.0.0.1:{sip_suite.sip.port}"
    reg = injection(tmp_path, "register", [register_row("bob", domain, f"127.0.0.1:{uas_port}")])
    registered = sipp("register_auth.xml", target, reg, port=register_port)
    assert registered.returncode == 0, registered.stdout[-2000:] + errors(reg)
    uas_inf = injection(tmp_path, "uas", ["bob"])
    uas = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "uas_answer.xml"), "-i", "127.0.0.1", "-p", str(uas_port), "-m", "1",
         "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err", "-error_file",
         str(uas_inf.with_suffix(".err"))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        inf = injection(tmp_path, "uac", [f"alice;bob;{domain}"])
        call = sipp("uac_call.xml", target, inf, port=uac_port)
        assert call.returncode == 0, call.stdout[-2000:] + errors(inf)
        out, err = uas.communicate(timeout=20)
        assert uas.returncode == 0, out[-2000:] + err[-2000:] + errors(uas_inf)
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()


def serve_uas(scenario: str, port: int, tmp_path: Path, name: str) -> tuple[subprocess.Popen[str], Path]:
    inf = injection(tmp_path, name, ["bob"])
    uas = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1",
         "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err", "-error_file", str(inf.with_suffix(".err"))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    return uas, inf


def test_sipp_message_through_the_proxy(sip_suite: SipSuite, tmp_path: Path) -> None:
    domain = sip_suite.new_domain(PASSWORD)
    register_port, uas_port, uac_port = free_ports(3)
    target = f"127.0.0.1:{sip_suite.sip.port}"
    reg = injection(tmp_path, "register", [register_row("bob", domain, f"127.0.0.1:{uas_port}")])
    registered = sipp("register_auth.xml", target, reg, port=register_port)
    assert registered.returncode == 0, registered.stdout[-2000:] + errors(reg)
    uas, uas_inf = serve_uas("uas_message.xml", uas_port, tmp_path, "uas")
    try:
        inf = injection(tmp_path, "uac", [f"alice;bob;{domain}"])
        sent = sipp("uac_message.xml", target, inf, port=uac_port)
        assert sent.returncode == 0, sent.stdout[-2000:] + errors(inf)
        out, err = uas.communicate(timeout=20)
        assert uas.returncode == 0, out[-2000:] + err[-2000:] + errors(uas_inf)
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()


def test_sipp_subscribes_to_presence(sip_suite: SipSuite, tmp_path: Path) -> None:
    domain = sip_suite.new_domain(PASSWORD)
    (port,) = free_ports(1)
    rows = [f"alice;bob;{domain};[authentication username=alice password={PASSWORD}]",
            f"carol;bob;{domain};[authentication username=carol password={PASSWORD}]"]  # fmt: skip
    inf = injection(tmp_path, "subscribe", rows)
    result = sipp("subscribe_presence.xml", f"127.0.0.1:{sip_suite.sip.port}", inf, port=port, calls=2)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:] + errors(inf)
