"""A baresip softphone run headless: its own config directory, driven over ctrl_tcp.

baresip's `ctrl_tcp` module takes commands as netstrings holding JSON
(`{"command": "dial", "params": "...", "token": "..."}`), answers each with a
`{"response": true, "token": ...}` netstring and pushes every user-agent event
(`CALL_ESTABLISHED`, `CALL_CLOSED`, ...) the same way. The phone uses no sound
hardware: it sends a WAV file (`aufile`) and plays into the in-process bridge
(`aubridge`), so RTP flows as it would from a real handset. Its standard
input is a pipe kept open and unused: the text UI (`stdio`) only prints.
"""

from __future__ import annotations

import json
import math
import queue
import shutil
import socket
import struct
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

# stdio is the text UI: what the menu prints for the user (an incoming message, say) goes to the log through it.
MODULES = ("stdio.so", "g711.so", "aufile.so", "aubridge.so")


def write_tone(path: Path, seconds: float = 20.0, rate: int = 8000) -> None:
    """A 440 Hz tone, 16-bit mono: what the phone 'says' into the call."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate))) for n in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)


def write_config(directory: Path, account: str, sip_port: int, ctrl_port: int, rtp_ports: tuple[int, int],
                 contacts: list[str]) -> None:  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    tone = directory / "tone.wav"
    write_tone(tone)
    lines = [
        "poll_method epoll",
        f"sip_listen 127.0.0.1:{sip_port}",
        "call_local_timeout 20",
        "call_max_calls 2",
        f"audio_source aufile,{tone}",
        "audio_player aubridge,speaker",
        "audio_alert aubridge,alert",
        "ausrc_srate 8000",
        "auplay_srate 8000",
        "ausrc_channels 1",
        "auplay_channels 1",
        f"rtp_ports {rtp_ports[0]}-{rtp_ports[1]}",
        "rtcp_mux no",
        "net_interface 127.0.0.1",
        "module_path /usr/lib/baresip/modules",
        *(f"module {name}" for name in MODULES),
        "statmode_default off",
        "module_tmp account.so",
        "module_app contact.so",
        "module_app menu.so",
        "module_app ctrl_tcp.so",
        f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}",
    ]
    (directory / "config").write_text("\n".join(lines) + "\n")
    (directory / "accounts").write_text(account + "\n")
    (directory / "contacts").write_text("".join(f"<{uri}>\n" for uri in contacts))


def netstring(data: bytes) -> bytes:
    return str(len(data)).encode() + b":" + data + b","


class Baresip:
    """One baresip process and its control connection; events are collected as they arrive."""

    def __init__(self, directory: Path, ctrl_port: int) -> None:
        binary = shutil.which("baresip")
        assert binary, "baresip is not installed (scripts/system-deps.sh test installs baresip-core)"
        self.directory = directory
        self.log = directory / "baresip.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [binary, "-f", str(directory)], stdin=subprocess.PIPE, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._responses: dict[str, dict[str, Any]] = {}
        self._answered = threading.Condition()
        self._tokens = 0
        self.sock = self._connect(ctrl_port)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _connect(self, port: int, timeout: float = 10.0) -> socket.socket:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"baresip exited: {self.output()}"
            try:
                return socket.create_connection(("127.0.0.1", port), timeout=1)
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"baresip's ctrl_tcp did not open: {self.output()}") from None
                time.sleep(0.05)

    def _read(self) -> None:
        self.sock.settimeout(None)
        buffer = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.events.put({"type": "CLOSED"})
                return
            buffer += chunk
            while b":" in buffer:
                length, rest = buffer.split(b":", 1)
                size = int(length)
                if len(rest) < size + 1:
                    break
                message = json.loads(rest[:size])
                buffer = rest[size + 1 :]
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("response"):
            with self._answered:
                self._responses[str(message.get("token"))] = message
                self._answered.notify_all()
        else:
            self.events.put(message)

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        self._tokens += 1
        token = str(self._tokens)
        self.sock.sendall(netstring(json.dumps({"command": command, "params": params, "token": token}).encode()))
        with self._answered:
            if not self._answered.wait_for(lambda: token in self._responses, timeout):
                raise AssertionError(f"no reply to {command} {params}: {self.output()}")
            return self._responses.pop(token)

    def wait_event(self, kind: str, timeout: float = 5.0, **match: str) -> dict[str, Any]:
        """The next event of this type (and these fields); events not asked for are kept in `seen`."""
        return self.wait_event_where(kind, lambda event: all(event.get(k) == v for k, v in match.items()), timeout)

    def wait_event_where(
        self, kind: str, test: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        for event in self.seen:
            if event.get("type") == kind and test(event):
                self.seen.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {kind} event; saw {self.seen}; log: {self.output()}") from None
            if event.get("type") == kind and test(event):
                return event
            self.seen.append(event)

    def wait_log(self, text: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            assert time.monotonic() < deadline, f"{text!r} not in the log: {self.output()}"
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                self.command("quit", timeout=2)
        except (AssertionError, OSError):
            pass
        for signal_it in (self.process.terminate, self.process.kill):
            try:
                self.process.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                signal_it()
        self.process.wait()
        self.sock.close()
        if self.process.stdin:
            self.process.stdin.close()
        self._log_file.close()
