"""Server-side encryption requests: the x-amz-server-side-encryption* headers checked and
read as AWS reads them, before anything is read or written.

``check_request`` runs once in the request pipeline (gateway/app.py), for every operation:
it refuses what AWS refuses (an unknown algorithm, SSE-C and SSE-S3 together, a KMS key id
without aws:kms, a customer key of the wrong length or whose MD5 does not match, SSE-C over
plain HTTP unless the server allows it), so a bad request stores nothing. Handlers then
read what a request asks for with ``requested`` (a write's encryption, or the bucket's
default), ``customer_key`` (the SSE-C key of a read, a part or a copy source).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidArgument, InvalidRequest
from gateway.objects.types import SseRequest
from gateway.wire.encryption import SSE_C, SSE_KMS, SSE_S3

SSE = "x-amz-server-side-encryption"
KMS_KEY = "x-amz-server-side-encryption-aws-kms-key-id"
KMS_CONTEXT = "x-amz-server-side-encryption-context"
BUCKET_KEY = "x-amz-server-side-encryption-bucket-key-enabled"
CUSTOMER = "x-amz-server-side-encryption-customer-"
COPY_CUSTOMER = "x-amz-copy-source-server-side-encryption-customer-"

# Operations that write a new version or upload: where SSE-S3/SSE-KMS may be asked for.
WRITES = frozenset({"PutObject", "PostObject", "CopyObject", "CreateMultipartUpload"})
# Operations that take an SSE-C key (the object's, or a part's upload's).
CUSTOMER_KEY_OPS = WRITES | {
    "UploadPart", "UploadPartCopy", "GetObject", "HeadObject", "CompleteMultipartUpload",
    "GetObjectAttributes",
}  # fmt: skip
COPY_SOURCE_OPS = frozenset({"CopyObject", "UploadPartCopy"})
# Reads refuse SSE-S3/SSE-KMS headers, as AWS does (the object's own encryption applies);
# Complete and the parts of an upload may repeat their upload's headers.
READS = frozenset({"GetObject", "HeadObject"})


def check_request(operation: str, headers: Mapping[str, str], secure: bool) -> None:
    """Refuse a malformed or misplaced encryption request (``secure``: HTTPS, or the
    server allows SSE-C over HTTP)."""
    if operation in WRITES or operation == "UploadPart":
        requested(headers)  # a part may repeat its upload's headers (the upload's rule)
    elif operation in READS and any(h in headers for h in (SSE, KMS_KEY, BUCKET_KEY)):
        raise InvalidArgument(
            "x-amz-server-side-encryption header is not supported for this operation.",
            ArgumentName=SSE,
        )
    has_customer = any(h.startswith(CUSTOMER) for h in headers)
    has_copy = any(h.startswith(COPY_CUSTOMER) for h in headers)
    if operation in CUSTOMER_KEY_OPS:
        customer_key(headers)
    if operation in COPY_SOURCE_OPS:
        customer_key(headers, COPY_CUSTOMER)
    if (has_customer or has_copy) and not secure:
        raise InvalidRequest(
            "Requests specifying Server Side Encryption with Customer provided keys must be "
            "made over a secure connection."
        )


def requested(headers: Mapping[str, str]) -> SseRequest | None:
    """The encryption a write asks for by its headers (None: none asked for)."""
    mode = headers.get(SSE)
    customer = customer_key(headers)
    if mode is not None and mode not in (SSE_S3, SSE_KMS):
        raise InvalidArgument(
            "The encryption method specified is not supported", ArgumentName=SSE,
            ArgumentValue=mode,
        )  # fmt: skip
    if mode is not None and customer is not None:
        raise InvalidArgument(
            "Server Side Encryption with Customer provided key is incompatible with the "
            "encryption method specified",
            ArgumentName=SSE,
        )
    kms_key = headers.get(KMS_KEY)
    if mode != SSE_KMS and any(h in headers for h in (KMS_KEY, KMS_CONTEXT, BUCKET_KEY)):
        name = next(h for h in (KMS_KEY, KMS_CONTEXT, BUCKET_KEY) if h in headers)
        raise InvalidArgument(
            "Server Side Encryption with KMS managed key requires HTTP header "
            "x-amz-server-side-encryption : aws:kms",
            ArgumentName=name,
        )
    if customer is not None:
        return customer
    if mode == SSE_KMS:
        # No key id: the default KMS key, as AWS's managed key aws/s3 (objects/sse.py).
        bucket_key = headers.get(BUCKET_KEY, "false").lower() == "true"
        return SseRequest(SSE_KMS, kms_key=kms_key or None, bucket_key=bucket_key)
    return SseRequest(SSE_S3) if mode == SSE_S3 else None


def with_default(asked: SseRequest | None, default: Mapping[str, Any] | None) -> SseRequest | None:
    """A write's encryption: what it asked for, else its bucket's default encryption."""
    if asked is not None or not default:
        return asked
    if default["m"] == SSE_KMS:
        kms_key = default.get("kms") or None  # None: the default KMS key
        return SseRequest(SSE_KMS, kms_key=kms_key, bucket_key=bool(default.get("bk")))
    return SseRequest(SSE_S3)


def customer_key(headers: Mapping[str, str], prefix: str = CUSTOMER) -> SseRequest | None:
    """The SSE-C key a request gives (under ``prefix``: the object's, or a copy source's),
    checked as AWS checks it; None when it gives none."""
    algorithm = headers.get(prefix + "algorithm")
    key_b64 = headers.get(prefix + "key")
    md5_b64 = headers.get(prefix + "key-md5")
    if algorithm is None and key_b64 is None and md5_b64 is None:
        return None
    if algorithm is None:
        raise InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide a valid encryption algorithm.",
            ArgumentName=prefix + "algorithm",
        )
    if algorithm != "AES256":
        raise InvalidArgument(
            "The encryption request you specified is not valid. The valid value is AES256.",
            ArgumentName=prefix + "algorithm", ArgumentValue=algorithm,
        )  # fmt: skip
    if key_b64 is None:
        raise InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide an appropriate secret key.",
            ArgumentName=prefix + "key",
        )
    if md5_b64 is None:
        raise InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide the client calculated MD5 of the secret key.",
            ArgumentName=prefix + "key-md5",
        )
    key = _b64(key_b64)
    if key is None or len(key) != 32:
        raise InvalidArgument(
            "The secret key was invalid for the specified algorithm.",
            ArgumentName=prefix + "key",
        )
    if base64.b64encode(hashlib.md5(key).digest()).decode() != md5_b64:
        raise InvalidArgument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            ArgumentName=prefix + "key-md5",
        )
    return SseRequest(SSE_C, customer_key=key, customer_key_md5=md5_b64)


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
