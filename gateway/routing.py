"""Route: method + path + query subresource -> a named S3 operation.

The operation table is plain data. Path-style addressing (/bucket/key) and
virtual-host style (bucket.<domain>/key) both resolve to (bucket, key).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from gateway import errors
from gateway.errors import InvalidRequest, MethodNotAllowed


@dataclass(frozen=True)
class Endpoint:
    op: str  # the S3 operation name, e.g. "PutObject"
    bucket: str | None
    key: str | None
    query: dict[str, str]


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
    ("GET", True, False, "versions"): "ListObjectVersions",
    ("GET", True, False, "list-type"): "ListObjectsV2",
    ("GET", True, False, "uploads"): "ListMultipartUploads",
    ("GET", True, False, ""): "ListObjects",
    ("POST", True, False, "delete"): "DeleteObjects",
    ("PUT", True, True, "uploadId"): "UploadPart",
    ("PUT", True, True, ""): "PutObject",
    ("GET", True, True, "uploadId"): "ListParts",
    ("GET", True, True, ""): "GetObject",
    ("HEAD", True, True, ""): "HeadObject",
    ("DELETE", True, True, "uploadId"): "AbortMultipartUpload",
    ("DELETE", True, True, ""): "DeleteObject",
    ("POST", True, True, "uploads"): "CreateMultipartUpload",
    ("POST", True, True, "uploadId"): "CompleteMultipartUpload",
}

# Query keys that select a sub-resource. Ones we route come first; the rest are S3
# features Cairn does not implement yet, and answer NotImplemented rather than being
# mistaken for a plain GET or PUT of an object.
SUBRESOURCES = ("uploads", "uploadId", "delete", "location", "versioning", "versions", "list-type")
UNSUPPORTED = (
    "acl", "policy", "policyStatus", "cors", "lifecycle", "tagging", "website", "logging",
    "notification", "replication", "encryption", "object-lock", "legal-hold", "retention",
    "accelerate", "requestPayment", "analytics", "inventory", "metrics", "intelligent-tiering",
    "ownershipControls", "publicAccessBlock", "restore", "select", "torrent", "attributes",
)  # fmt: skip


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
        bucket = unquote(b)
        key = unquote(rest) if sep and rest else None
        return bucket, key
    key = unquote(path[1:]) if len(path) > 1 else None
    return bucket, key


def parse_query(raw_query: str) -> dict[str, str]:
    return dict(parse_qsl(raw_query, keep_blank_values=True))


def resolve(
    method: str, raw_path: str, raw_query: str, host: str | None = None, domain: str | None = None
) -> Endpoint:
    bucket, key = split_path(raw_path, host, domain)
    query = parse_query(raw_query)
    if bucket is None and key is None and method not in ("GET", "HEAD"):
        raise MethodNotAllowed()
    sub = next((s for s in SUBRESOURCES if s in query), "")
    if not sub:
        unsupported = next((s for s in UNSUPPORTED if s in query), None)
        if unsupported is not None:
            # errors.NotImplemented is the S3 error (501), not Python's NotImplemented.
            raise errors.NotImplemented(f"The {unsupported} subresource is not implemented.")
    op = OPERATIONS.get((method, bucket is not None, key is not None, sub))
    if op is None and sub:
        op = OPERATIONS.get((method, bucket is not None, key is not None, ""))
    if op is None:
        if method not in ("GET", "HEAD", "PUT", "POST", "DELETE"):
            raise MethodNotAllowed()
        if method == "POST":
            raise InvalidRequest("Unsupported POST request")
        raise errors.NotImplemented()
    return Endpoint(op, bucket, key, query)
