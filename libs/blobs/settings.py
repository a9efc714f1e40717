"""Settings of the blob store (`PARLEY_BLOB_*`) and the factory that builds one from them.

Every service that reads or writes blobs (smtp, storage, imap, …) loads the
same settings, so they all point at the same store: a directory under the
data dir on one machine, an S3-compatible bucket at scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.blobs.base import BlobStore
from libs.blobs.local import LocalBlobStore
from libs.config import SuiteSettings


class BlobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_BLOB_", extra="ignore", frozen=True)

    backend: Literal["local", "s3"] = Field(
        "local", description="Where blobs live: local (a directory, one machine) or s3 (an S3-compatible store)."
    )
    local_dir: Path | None = Field(
        None, description="Directory of the local backend; empty: <data dir>/blobs. Every service must see the same."
    )
    s3_endpoint_url: str = Field(
        "", description="URL of the S3-compatible endpoint (e.g. http://minio:9000); empty: AWS S3 itself."
    )
    s3_bucket: str = Field("", description="Bucket of the s3 backend (required when backend is s3).")
    s3_region: str = Field("us-east-1", description="Region of the bucket (signing and bucket creation).")
    s3_access_key: str = Field(
        "", description="Access key id; empty: the AWS default chain (AWS_* variables, instance role)."
    )
    s3_secret_key: SecretStr | None = Field(None, description="Secret access key that goes with the access key.")
    s3_prefix: str = Field("blobs/", description="Key prefix under which blobs are stored in the bucket.")
    s3_addressing_style: Literal["path", "virtual", "auto"] = Field(
        "path", description="S3 addressing: path (MinIO and most self-hosted stores), virtual or auto."
    )
    s3_create_bucket: bool = Field(False, description="Create the bucket at first use when it does not exist.")

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> BlobSettings:
        if self.backend == "s3" and not self.s3_bucket:
            raise ValueError("PARLEY_BLOB_S3_BUCKET is required when PARLEY_BLOB_BACKEND is s3")
        return self

    def directory(self, suite: SuiteSettings) -> Path:
        """The local backend's root: the setting, or `blobs` under the data dir."""
        if self.local_dir is not None:
            return self.local_dir.expanduser().resolve()
        return suite.resolved_data_dir() / "blobs"


def blob_store_from_settings(settings: BlobSettings, suite: SuiteSettings | None = None) -> BlobStore:
    """Build the configured store; `suite` gives the data dir (main.py passes the one it loaded)."""
    if settings.backend == "s3":
        # Imported here so that a one-machine install never loads botocore.
        from libs.blobs.s3 import S3BlobStore

        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        return S3BlobStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region,
            access_key=settings.s3_access_key or None,
            secret_key=secret,
            prefix=settings.s3_prefix,
            create_bucket=settings.s3_create_bucket,
            addressing_style=settings.s3_addressing_style,
        )
    return LocalBlobStore(settings.directory(suite if suite is not None else SuiteSettings()))
