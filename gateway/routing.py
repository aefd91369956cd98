"""Route: method + path + query subresource -> a named S3 operation.

The operation table is plain data. Path-style addressing (/bucket/key) and
virtual-host style (bucket.<domain>/key) both resolve to (bucket, key).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from gateway import errors
from gateway.errors import InvalidRequest, InvalidURI, MethodNotAllowed


@dataclass(frozen=True)
class Endpoint:
    op: str  # the S3 operation name, e.g. "PutObject"
    bucket: str | None
    key: str | None
    query: dict[str, str]


PREFLIGHT = "PreflightRequest"  # OPTIONS on a bucket or object, whatever its query

# (method, has bucket, has key, subresource or "" ) -> operation. The first matching
# subresource in SUBRESOURCES order decides; "" means none of them is present.
OPERATIONS: dict[tuple[str, bool, bool, str], str] = {
    ("GET", False, False, ""): "ListBuckets",
    ("HEAD", False, False, ""): "ListBuckets",
    ("PUT", True, False, ""): "CreateBucket",
    ("HEAD", True, False, ""): "HeadBucket",
    ("DELETE", True, False, ""): "DeleteBucket",
    ("GET", True, False, "location"): "GetBucketLocation",
    ("GET", True, False, "versioning"): "GetBucketVersioning",
    ("PUT", True, False, "versioning"): "PutBucketVersioning",
    ("GET", True, False, "versions"): "ListObjectVersions",
    ("GET", True, False, "list-type"): "ListObjectsV2",
    ("GET", True, False, "uploads"): "ListMultipartUploads",
    ("GET", True, False, ""): "ListObjects",
    ("POST", True, False, "delete"): "DeleteObjects",
    ("POST", True, False, ""): "PostObject",  # an HTML form upload (gateway/auth/post_policy.py)
    ("PUT", True, True, "uploadId"): "UploadPart",
    ("PUT", True, True, ""): "PutObject",
    ("GET", True, True, "uploadId"): "ListParts",
    ("GET", True, True, ""): "GetObject",
    ("HEAD", True, True, ""): "HeadObject",
    ("DELETE", True, True, "uploadId"): "AbortMultipartUpload",
    ("DELETE", True, True, ""): "DeleteObject",
    ("POST", True, True, "uploads"): "CreateMultipartUpload",
    ("POST", True, True, "uploadId"): "CompleteMultipartUpload",
    ("GET", True, True, "torrent"): "GetObjectTorrent",
    # Access control (gateway/handlers/access.py)
    ("GET", True, False, "acl"): "GetBucketAcl",
    ("PUT", True, False, "acl"): "PutBucketAcl",
    ("GET", True, True, "acl"): "GetObjectAcl",
    ("PUT", True, True, "acl"): "PutObjectAcl",
    ("GET", True, False, "policy"): "GetBucketPolicy",
    ("PUT", True, False, "policy"): "PutBucketPolicy",
    ("DELETE", True, False, "policy"): "DeleteBucketPolicy",
    ("GET", True, False, "policyStatus"): "GetBucketPolicyStatus",
    ("GET", True, False, "ownershipControls"): "GetBucketOwnershipControls",
    ("PUT", True, False, "ownershipControls"): "PutBucketOwnershipControls",
    ("DELETE", True, False, "ownershipControls"): "DeleteBucketOwnershipControls",
    ("GET", True, False, "publicAccessBlock"): "GetPublicAccessBlock",
    ("PUT", True, False, "publicAccessBlock"): "PutPublicAccessBlock",
    ("DELETE", True, False, "publicAccessBlock"): "DeletePublicAccessBlock",
    # Tagging (gateway/handlers/tagging.py)
    ("GET", True, True, "tagging"): "GetObjectTagging",
    ("PUT", True, True, "tagging"): "PutObjectTagging",
    ("DELETE", True, True, "tagging"): "DeleteObjectTagging",
    ("GET", True, False, "tagging"): "GetBucketTagging",
    ("PUT", True, False, "tagging"): "PutBucketTagging",
    ("DELETE", True, False, "tagging"): "DeleteBucketTagging",
    # CORS (gateway/handlers/cors.py) and GetObjectAttributes (gateway/handlers/attributes.py)
    ("GET", True, False, "cors"): "GetBucketCors",
    ("PUT", True, False, "cors"): "PutBucketCors",
    ("DELETE", True, False, "cors"): "DeleteBucketCors",
    ("GET", True, False, "encryption"): "GetBucketEncryption",
    ("PUT", True, False, "encryption"): "PutBucketEncryption",
    ("DELETE", True, False, "encryption"): "DeleteBucketEncryption",
    ("GET", True, True, "attributes"): "GetObjectAttributes",
    # Object lock (gateway/handlers/lock.py)
    ("GET", True, False, "object-lock"): "GetObjectLockConfiguration",
    ("PUT", True, False, "object-lock"): "PutObjectLockConfiguration",
    ("GET", True, True, "retention"): "GetObjectRetention",
    ("PUT", True, True, "retention"): "PutObjectRetention",
    ("GET", True, True, "legal-hold"): "GetObjectLegalHold",
    ("PUT", True, True, "legal-hold"): "PutObjectLegalHold",
    # Lifecycle (gateway/handlers/lifecycle.py)
    ("GET", True, False, "lifecycle"): "GetBucketLifecycleConfiguration",
    ("PUT", True, False, "lifecycle"): "PutBucketLifecycleConfiguration",
    ("DELETE", True, False, "lifecycle"): "DeleteBucketLifecycle",
}

# Query keys that select a sub-resource. Ones we route come first; the rest are S3
# features Cairn does not implement yet. A request that names one of them is the
# operation the table gives for its method, or an error: never a plain GET, PUT or DELETE
# of the bucket or object (a PutBucketVersioning must not create the bucket, nor
# `DELETE /b?location` delete it).
SUBRESOURCES = (
    "uploads", "uploadId", "delete", "location", "versioning", "versions", "list-type", "torrent",
    "acl", "policy", "policyStatus", "ownershipControls", "publicAccessBlock",
    "cors", "attributes", "tagging", "lifecycle", "encryption",
    "object-lock", "retention", "legal-hold",
)  # fmt: skip
UNSUPPORTED = (
    "website", "logging",
    "notification", "replication",
    "accelerate", "requestPayment", "analytics", "inventory", "metrics", "intelligent-tiering",
    "restore", "select",
)  # fmt: skip

# The S3 operations a sub-resource names that Cairn does not implement: (method, has key,
# subresource) -> the AWS operation. They answer NotImplemented (501) naming it; a
# (method, sub-resource) pair that is neither here nor routed is no S3 operation at all,
# and answers MethodNotAllowed (405), as AWS does for a method a resource does not have.
NOT_IMPLEMENTED: dict[tuple[str, bool, str], str] = {
    ("GET", False, "website"): "GetBucketWebsite",
    ("PUT", False, "website"): "PutBucketWebsite",
    ("DELETE", False, "website"): "DeleteBucketWebsite",
    ("GET", False, "logging"): "GetBucketLogging",
    ("PUT", False, "logging"): "PutBucketLogging",
    ("GET", False, "notification"): "GetBucketNotificationConfiguration",
    ("PUT", False, "notification"): "PutBucketNotificationConfiguration",
    ("GET", False, "replication"): "GetBucketReplication",
    ("PUT", False, "replication"): "PutBucketReplication",
    ("DELETE", False, "replication"): "DeleteBucketReplication",
    ("GET", False, "accelerate"): "GetBucketAccelerateConfiguration",
    ("PUT", False, "accelerate"): "PutBucketAccelerateConfiguration",
    ("GET", False, "requestPayment"): "GetBucketRequestPayment",
    ("PUT", False, "requestPayment"): "PutBucketRequestPayment",
    ("GET", False, "analytics"): "GetBucketAnalyticsConfiguration",
    ("PUT", False, "analytics"): "PutBucketAnalyticsConfiguration",
    ("DELETE", False, "analytics"): "DeleteBucketAnalyticsConfiguration",
    ("GET", False, "inventory"): "GetBucketInventoryConfiguration",
    ("PUT", False, "inventory"): "PutBucketInventoryConfiguration",
    ("DELETE", False, "inventory"): "DeleteBucketInventoryConfiguration",
    ("GET", False, "metrics"): "GetBucketMetricsConfiguration",
    ("PUT", False, "metrics"): "PutBucketMetricsConfiguration",
    ("DELETE", False, "metrics"): "DeleteBucketMetricsConfiguration",
    ("GET", False, "intelligent-tiering"): "GetBucketIntelligentTieringConfiguration",
    ("PUT", False, "intelligent-tiering"): "PutBucketIntelligentTieringConfiguration",
    ("DELETE", False, "intelligent-tiering"): "DeleteBucketIntelligentTieringConfiguration",
    ("POST", True, "restore"): "RestoreObject",
    ("POST", True, "select"): "SelectObjectContent",
}


def split_path(
    raw_path: str, host: str | None = None, domain: str | None = None
) -> tuple[str | None, str | None]:
    """(bucket, key) from the percent-encoded path; virtual-host style when Host is
    <bucket>.<domain>."""
    path = raw_path
    bucket: str | None = None
    if domain and host:
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if hostname.endswith("." + domain):
            bucket = hostname[: -len(domain) - 1]
    if bucket is None:
        stripped = path[1:] if path.startswith("/") else path
        if not stripped:
            return None, None
        b, sep, rest = stripped.partition("/")
        bucket = _decode(b)
        key = _decode(rest) if sep and rest else None
        return bucket, key
    key = _decode(path[1:]) if len(path) > 1 else None
    return bucket, key


def _decode(segment: str) -> str:
    """A percent-encoded bucket or key, decoded as UTF-8. Bytes that are not UTF-8 name
    no S3 key: InvalidURI, as S3 answers, rather than a key with U+FFFD in their place
    (which would be some other object's name)."""
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise InvalidURI() from None


def parse_query(raw_query: str) -> dict[str, str]:
    return dict(parse_qsl(raw_query, keep_blank_values=True))


def resolve(
    method: str, raw_path: str, raw_query: str, host: str | None = None, domain: str | None = None
) -> Endpoint:
    bucket, key = split_path(raw_path, host, domain)
    query = parse_query(raw_query)
    if method == "OPTIONS" and bucket is not None:
        # A browser's CORS preflight for the request it means to send (whose query,
        # sub-resources included, it may carry): answered by gateway/handlers/preflight.py.
        return Endpoint(PREFLIGHT, bucket, key, query)
    if bucket is None and key is None and method not in ("GET", "HEAD"):
        raise MethodNotAllowed()
    sub = next((s for s in SUBRESOURCES if s in query), "")
    if not sub:
        unsupported = next((s for s in UNSUPPORTED if s in query), None)
        if unsupported is not None:
            raise _refusal(method, bucket is not None, key is not None, unsupported)
    op = OPERATIONS.get((method, bucket is not None, key is not None, sub))
    if op is not None:
        return Endpoint(op, bucket, key, query)
    if sub:
        # Named a sub-resource this method does not have here: an error, never the plain
        # operation on the bucket or object.
        raise _refusal(method, bucket is not None, key is not None, sub)
    if method not in ("GET", "HEAD", "PUT", "POST", "DELETE"):
        raise MethodNotAllowed()
    if method == "POST":
        raise InvalidRequest("Unsupported POST request")
    raise errors.NotImplemented()


def _refusal(method: str, has_bucket: bool, has_key: bool, sub: str) -> errors.S3Error:
    """The error for a sub-resource request Cairn does not route: NotImplemented when it
    names an S3 operation Cairn lacks, MethodNotAllowed when it names none."""
    operation = NOT_IMPLEMENTED.get((method, has_key, sub)) if has_bucket else None
    if operation is None:
        return MethodNotAllowed()
    # errors.NotImplemented is the S3 error (501), not Python's NotImplemented.
    return errors.NotImplemented(f"{operation} (the {sub} subresource) is not implemented.")
