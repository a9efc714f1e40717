"""Fixtures for the shared-library tests: an S3-compatible server for the blob store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from libs.blobs.s3 import MIN_PART_SIZE
from libs.testing.s3 import MotoS3Server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3Server]:
    """One moto S3 server for the session; tests isolate themselves with a bucket each."""
    with MotoS3Server() as server:
        yield server


@pytest.fixture
def s3_store_options(s3_server: MotoS3Server) -> dict[str, Any]:
    """Arguments of an S3BlobStore in a bucket of its own, so tests never see each other's blobs."""
    return {
        "bucket": f"test-{uuid.uuid4().hex[:16]}",
        **s3_server.client_options(),
        "create_bucket": True,
        # The smallest parts S3 allows, so bodies of a few MiB already take the multipart path.
        "part_size": MIN_PART_SIZE,
    }
