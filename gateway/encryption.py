"""Server-side encryption: refused until Cairn encrypts.

Cairn stores object bytes as they arrive. A request that asks for encryption at rest (SSE-S3,
SSE-KMS, or SSE-C with a customer key) would otherwise be acknowledged and stored in the clear,
and an application would believe its data encrypted: so each such request is refused with
S3's NotImplemented naming the header, before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway import errors

# The operations that write or read an object's bytes: where S3 takes these headers.
OBJECT_DATA_OPERATIONS = frozenset(
    {
        "PutObject",
        "PostObject",
        "CopyObject",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "GetObject",
        "HeadObject",
    }
)

ENCRYPTION_HEADERS = (
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context",
    "x-amz-server-side-encryption-bucket-key-enabled",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-customer-key",
    "x-amz-server-side-encryption-customer-key-md5",
    "x-amz-copy-source-server-side-encryption-customer-algorithm",
    "x-amz-copy-source-server-side-encryption-customer-key",
    "x-amz-copy-source-server-side-encryption-customer-key-md5",
)


def refuse_encryption(operation: str, headers: Mapping[str, str]) -> None:
    """Raise NotImplemented if the request asks for server-side encryption."""
    if operation not in OBJECT_DATA_OPERATIONS:
        return
    for name in ENCRYPTION_HEADERS:
        if name in headers:
            raise errors.NotImplemented(Header=name)
