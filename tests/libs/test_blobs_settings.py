"""Blob store settings (`PARLEY_BLOB_*`) and the factory that builds a store from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.blobs import BlobSettings, LocalBlobStore, blob_store_from_settings
from libs.blobs.s3 import S3BlobStore
from libs.config import SuiteSettings
from libs.testing.s3 import MotoS3Server


def test_every_setting_is_documented() -> None:
    # docs/configuration.md is generated from these descriptions.
    assert all(field.description for field in BlobSettings.model_fields.values())


async def test_the_default_is_a_directory_under_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path))
    settings = BlobSettings()
    assert settings.backend == "local"
    store = blob_store_from_settings(settings, SuiteSettings())
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path.resolve() / "blobs"
    await store.close()


async def test_a_local_dir_overrides_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARLEY_BLOB_LOCAL_DIR", str(tmp_path / "elsewhere"))
    store = blob_store_from_settings(BlobSettings(), SuiteSettings(data_dir=tmp_path / "data"))
    assert isinstance(store, LocalBlobStore) and store.root == (tmp_path / "elsewhere").resolve()
    await store.close()


def test_s3_needs_a_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_BLOB_BACKEND", "s3")
    with pytest.raises(ValueError, match="BUCKET"):
        BlobSettings()


def test_unknown_backends_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_BLOB_BACKEND", "ftp")
    with pytest.raises(ValueError):
        BlobSettings()


async def test_s3_settings_from_the_environment_reach_a_working_store(
    monkeypatch: pytest.MonkeyPatch, s3_server: MotoS3Server
) -> None:
    for name, value in {
        "BACKEND": "s3",
        "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "S3_BUCKET": "settings-test",
        "S3_REGION": s3_server.region,
        "S3_ACCESS_KEY": s3_server.access_key,
        "S3_SECRET_KEY": "not-to-be-shown",  # moto accepts any secret
        "S3_PREFIX": "mail",
        "S3_CREATE_BUCKET": "true",
    }.items():
        monkeypatch.setenv(f"PARLEY_BLOB_{name}", value)
    settings = BlobSettings()
    assert "not-to-be-shown" not in repr(settings)
    store = blob_store_from_settings(settings)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.endpoint_url) == ("settings-test", "mail/", s3_server.endpoint_url)
    async with store:
        ref = await store.put(b"through the settings")
        assert await store.get(ref.digest) == b"through the settings"
        assert store.key_for(ref.digest).startswith("mail/")
