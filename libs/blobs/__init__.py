"""Content-addressed blob store shared by the services that handle large bodies.

Message bodies, attachments and recordings never ride the bus: the service
that receives one (smtp, say) puts it here and sends only its sha256 digest;
the owner of the metadata (storage) commits the digest after the put has
returned, so the bytes are durable first; readers (imap, pop3) fetch whole
blobs or byte ranges by digest.

    store = blob_store_from_settings(BlobSettings(), suite)
    ref = await store.put_stream(chunks)        # BlobRef(digest, size)
    head = await store.get_range(ref.digest, 0, 1024)

`LocalBlobStore` is the embedded default, `S3BlobStore` the at-scale backend
(`from libs.blobs.s3 import S3BlobStore`, or through the factory; kept out of
this namespace so that importing the package does not load botocore).
"""

from libs.blobs.base import (
    DEFAULT_TEMP_AGE,
    BlobError,
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobStoreUnavailable,
    InvalidDigest,
    InvalidRange,
    validate_digest,
)
from libs.blobs.local import LocalBlobStore
from libs.blobs.settings import BlobSettings, blob_store_from_settings

__all__ = [
    "DEFAULT_TEMP_AGE",
    "BlobError",
    "BlobNotFound",
    "BlobRef",
    "BlobSettings",
    "BlobStore",
    "BlobStoreUnavailable",
    "InvalidDigest",
    "InvalidRange",
    "LocalBlobStore",
    "blob_store_from_settings",
    "validate_digest",
]
