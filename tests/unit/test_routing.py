"""gateway.routing: every (method, sub-resource) pair, on a bucket path and an object path,
is the operation AWS names for it, NotImplemented (an S3 operation Cairn lacks) or
MethodNotAllowed (no S3 operation): never the plain operation on the bucket or object.

The expectations below are written out independently of the routing tables, so that a
table edit that changes an answer fails here."""

from __future__ import annotations

import pytest

from gateway import errors, routing
from gateway.routing import resolve

METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH")
BUCKET, OBJECT = "bucket", "object"
PATHS = {BUCKET: "/b", OBJECT: "/b/k"}

# What Cairn routes: (method, level, sub-resource) -> operation.
ROUTED = {
    ("GET", BUCKET, "location"): "GetBucketLocation",
    ("GET", BUCKET, "versioning"): "GetBucketVersioning",
    ("PUT", BUCKET, "versioning"): "PutBucketVersioning",
    ("GET", BUCKET, "versions"): "ListObjectVersions",
    ("GET", BUCKET, "list-type"): "ListObjectsV2",
    ("GET", BUCKET, "uploads"): "ListMultipartUploads",
    ("POST", BUCKET, "delete"): "DeleteObjects",
    ("POST", OBJECT, "uploads"): "CreateMultipartUpload",
    ("PUT", OBJECT, "uploadId"): "UploadPart",
    ("GET", OBJECT, "uploadId"): "ListParts",
    ("DELETE", OBJECT, "uploadId"): "AbortMultipartUpload",
    ("POST", OBJECT, "uploadId"): "CompleteMultipartUpload",
    ("GET", OBJECT, "torrent"): "GetObjectTorrent",  # NotImplemented once the key is found
    ("GET", BUCKET, "acl"): "GetBucketAcl",
    ("PUT", BUCKET, "acl"): "PutBucketAcl",
    ("GET", OBJECT, "acl"): "GetObjectAcl",
    ("PUT", OBJECT, "acl"): "PutObjectAcl",
    ("GET", BUCKET, "policy"): "GetBucketPolicy",
    ("PUT", BUCKET, "policy"): "PutBucketPolicy",
    ("DELETE", BUCKET, "policy"): "DeleteBucketPolicy",
    ("GET", BUCKET, "policyStatus"): "GetBucketPolicyStatus",
    ("GET", BUCKET, "ownershipControls"): "GetBucketOwnershipControls",
    ("PUT", BUCKET, "ownershipControls"): "PutBucketOwnershipControls",
    ("DELETE", BUCKET, "ownershipControls"): "DeleteBucketOwnershipControls",
    ("GET", BUCKET, "publicAccessBlock"): "GetPublicAccessBlock",
    ("PUT", BUCKET, "publicAccessBlock"): "PutPublicAccessBlock",
    ("DELETE", BUCKET, "publicAccessBlock"): "DeletePublicAccessBlock",
    ("GET", BUCKET, "tagging"): "GetBucketTagging",
    ("PUT", BUCKET, "tagging"): "PutBucketTagging",
    ("DELETE", BUCKET, "tagging"): "DeleteBucketTagging",
    ("GET", OBJECT, "tagging"): "GetObjectTagging",
    ("PUT", OBJECT, "tagging"): "PutObjectTagging",
    ("DELETE", OBJECT, "tagging"): "DeleteObjectTagging",
    ("GET", BUCKET, "cors"): "GetBucketCors",
    ("PUT", BUCKET, "cors"): "PutBucketCors",
    ("DELETE", BUCKET, "cors"): "DeleteBucketCors",
    ("GET", BUCKET, "encryption"): "GetBucketEncryption",
    ("PUT", BUCKET, "encryption"): "PutBucketEncryption",
    ("DELETE", BUCKET, "encryption"): "DeleteBucketEncryption",
    ("GET", OBJECT, "attributes"): "GetObjectAttributes",
    ("GET", BUCKET, "object-lock"): "GetObjectLockConfiguration",
    ("PUT", BUCKET, "object-lock"): "PutObjectLockConfiguration",
    ("GET", OBJECT, "retention"): "GetObjectRetention",
    ("PUT", OBJECT, "retention"): "PutObjectRetention",
    ("GET", OBJECT, "legal-hold"): "GetObjectLegalHold",
    ("PUT", OBJECT, "legal-hold"): "PutObjectLegalHold",
    ("GET", BUCKET, "lifecycle"): "GetBucketLifecycleConfiguration",
    ("PUT", BUCKET, "lifecycle"): "PutBucketLifecycleConfiguration",
    ("DELETE", BUCKET, "lifecycle"): "DeleteBucketLifecycle",
}

# S3 operations named by a sub-resource that Cairn does not implement (the AWS S3 API
# reference): they answer NotImplemented.
_B, _O = BUCKET, OBJECT
AWS_ONLY = {
    ("GET", _B, "website"), ("PUT", _B, "website"), ("DELETE", _B, "website"),
    ("GET", _B, "logging"), ("PUT", _B, "logging"),
    ("GET", _B, "notification"), ("PUT", _B, "notification"),
    ("GET", _B, "replication"), ("PUT", _B, "replication"), ("DELETE", _B, "replication"),
    ("GET", _B, "accelerate"), ("PUT", _B, "accelerate"),
    ("GET", _B, "requestPayment"), ("PUT", _B, "requestPayment"),
    ("GET", _B, "analytics"), ("PUT", _B, "analytics"), ("DELETE", _B, "analytics"),
    ("GET", _B, "inventory"), ("PUT", _B, "inventory"), ("DELETE", _B, "inventory"),
    ("GET", _B, "metrics"), ("PUT", _B, "metrics"), ("DELETE", _B, "metrics"),
    ("GET", _B, "intelligent-tiering"), ("PUT", _B, "intelligent-tiering"),
    ("DELETE", _B, "intelligent-tiering"),
    ("POST", _O, "restore"), ("POST", _O, "select"),
}  # fmt: skip

ALL_SUBRESOURCES = (*routing.SUBRESOURCES, *routing.UNSUPPORTED)
CASES = [(m, lvl, sub) for sub in ALL_SUBRESOURCES for lvl in (BUCKET, OBJECT) for m in METHODS]


def test_the_expectations_cover_the_routing_tables() -> None:
    """A sub-resource added to routing without an expectation here fails this test."""
    routed = {(m, OBJECT if k else BUCKET, s) for (m, b, k, s) in routing.OPERATIONS if s}
    assert routed == set(ROUTED)
    nimpl = {(m, OBJECT if k else BUCKET, s) for (m, k, s) in routing.NOT_IMPLEMENTED}
    assert nimpl == AWS_ONLY
    subs = {s for (_, _, s) in ROUTED} | {s for (_, _, s) in AWS_ONLY}
    assert subs == set(ALL_SUBRESOURCES)


@pytest.mark.parametrize(("method", "level", "sub"), CASES)
def test_every_method_and_subresource(method: str, level: str, sub: str) -> None:
    query = f"{sub}=x" if sub in ("uploadId", "list-type") else sub
    if method == "OPTIONS":  # a CORS preflight, for whatever request it precedes
        assert resolve(method, PATHS[level], query).op == routing.PREFLIGHT
        return
    if (method, level, sub) in ROUTED:
        ep = resolve(method, PATHS[level], query)
        assert ep.op == ROUTED[(method, level, sub)]
        assert ep.bucket == "b" and ep.key == ("k" if level == OBJECT else None)
        assert sub in ep.query
        return
    want = errors.NotImplemented if (method, level, sub) in AWS_ONLY else errors.MethodNotAllowed
    with pytest.raises(errors.S3Error) as ei:
        resolve(method, PATHS[level], query)
    assert type(ei.value) is want, (method, level, sub, ei.value)


@pytest.mark.parametrize("sub", ALL_SUBRESOURCES)
@pytest.mark.parametrize("method", METHODS)
def test_service_path_with_a_subresource_is_never_list_buckets(method: str, sub: str) -> None:
    with pytest.raises(errors.MethodNotAllowed):
        resolve(method, "/", sub)


def test_the_reported_data_changing_requests() -> None:
    """The issue's two cases: PutBucketVersioning created the bucket (it was routed as
    CreateBucket; now it is its own operation) and `DELETE /b?location` would have
    deleted it."""
    assert resolve("PUT", "/b", "versioning").op == "PutBucketVersioning"
    with pytest.raises(errors.MethodNotAllowed):
        resolve("DELETE", "/b", "location")


def test_subresource_also_in_virtual_host_style() -> None:
    with pytest.raises(errors.NotImplemented):
        resolve("PUT", "/", "website", host="b.s3.example", domain="s3.example")
    ep = resolve("GET", "/", "versioning", host="b.s3.example", domain="s3.example")
    assert (ep.op, ep.bucket, ep.key) == ("GetBucketVersioning", "b", None)


def test_routed_subresource_wins_over_an_unsupported_one() -> None:
    # The first key in SUBRESOURCES order decides, as before: CompleteMultipartUpload.
    assert resolve("POST", "/b/k", "uploadId=1&acl").op == "CompleteMultipartUpload"


@pytest.mark.parametrize(
    ("method", "path", "op"),
    [
        ("GET", "/", "ListBuckets"),
        ("HEAD", "/", "ListBuckets"),
        ("PUT", "/b", "CreateBucket"),
        ("HEAD", "/b", "HeadBucket"),
        ("DELETE", "/b", "DeleteBucket"),
        ("GET", "/b", "ListObjects"),
        ("PUT", "/b/k", "PutObject"),
        ("POST", "/b", "PostObject"),  # an HTML form upload: the key is a form field
        ("GET", "/b/k", "GetObject"),
        ("HEAD", "/b/k", "HeadObject"),
        ("DELETE", "/b/k", "DeleteObject"),
    ],
)
def test_plain_operations(method: str, path: str, op: str) -> None:
    assert resolve(method, path, "").op == op
    # Parameters that are not sub-resources do not change the operation.
    assert resolve(method, path, "versionId=v1&x-id=Op&prefix=a").op == op


@pytest.mark.parametrize(
    ("method", "path", "error"),
    [
        ("PUT", "/", errors.MethodNotAllowed),
        ("DELETE", "/", errors.MethodNotAllowed),
        ("POST", "/", errors.MethodNotAllowed),
        ("POST", "/b/k", errors.InvalidRequest),
        ("OPTIONS", "/", errors.MethodNotAllowed),
        ("PATCH", "/b", errors.MethodNotAllowed),
    ],
)
def test_plain_refusals(method: str, path: str, error: type) -> None:
    with pytest.raises(error):
        resolve(method, path, "")


@pytest.mark.parametrize("path", ["/b/%AE%8A-", "/b/ok/%C0%80", "/%FFb/k", "/b/%E2%82"])
def test_a_path_that_is_not_utf8_is_invalid_uri(path: str) -> None:
    with pytest.raises(errors.InvalidURI, match="Couldn't parse the specified URI."):
        resolve("GET", path, "")
    with pytest.raises(errors.InvalidURI):  # virtual-host style
        resolve("GET", "/%AE%8A-", "", "b.s3.test", "s3.test")


def test_utf8_keys_decode_whatever_their_code_points() -> None:
    # U+00AE U+008A: a C1 control character is a valid key, sent as UTF-8.
    assert resolve("GET", "/b/%C2%AE%C2%8A-", "").key == "\xae\x8a-"
    assert resolve("GET", "/b/%E2%82%AC", "").key == "€"


@pytest.mark.parametrize("path", ["/b", "/b/", "/b/k", "/b/a/b/c"])
def test_options_is_a_preflight(path: str) -> None:
    ep = resolve("OPTIONS", path, "uploads")
    assert (ep.op, ep.bucket) == (routing.PREFLIGHT, "b")
    assert resolve("OPTIONS", "/k", "", "b.s3.test", "s3.test").op == routing.PREFLIGHT
