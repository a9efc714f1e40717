"""Settings: the generated documentation is current, and env vars reach the schemas."""

from pathlib import Path

import pytest

from libs.config import SuiteSettings, sqlite_url
from libs.config.doc import DOC_PATH, render
from services.directory.config import DirectorySettings


def test_configuration_doc_is_current() -> None:
    assert DOC_PATH.read_text() == render(), "run `python -m libs.config.doc` and commit docs/configuration.md"


def test_suite_and_service_prefixes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PARLEY_DIRECTORY_ADMIN_PORT", "18010")
    suite, directory = SuiteSettings(), DirectorySettings()
    assert suite.resolved_data_dir() == tmp_path.resolve()
    assert directory.admin_port == 18010
    assert directory.database(suite) == sqlite_url(tmp_path, "directory")


def test_invalid_values_are_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_DIRECTORY_ADMIN_PORT", "not a port")
    with pytest.raises(ValueError):
        DirectorySettings()
    monkeypatch.setenv("PARLEY_DIRECTORY_ADMIN_PORT", "8010")
    monkeypatch.setenv("PARLEY_DIRECTORY_SCRAM_ITERATIONS", "10")
    with pytest.raises(ValueError):
        DirectorySettings()
