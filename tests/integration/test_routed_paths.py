"""Routed paths that had no test against a live server: GetBucketVersioning, `HEAD /`,
the NotImplemented / MethodNotAllowed / unsupported-POST answers (which must leave the
bucket as it was), EntityTooLarge, MetadataTooLarge, NoSuchVersion, and a signed
aws-chunked upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, which boto3 does not send)."""

from __future__ import annotations

import httpx
import pytest

from tests import s3sign
from tests.integration.helpers import (
    error_code_of,
    get_bytes,
    object_absent,
    object_url,
    parse_xml,
    raw_signed,
    s3_error,
    signed_request,
    unique,
)


def _bucket_exists(s3, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
    except s3.exceptions.ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404, exc.response
        return False
    return True


def test_get_bucket_versioning_of_an_unversioned_bucket(server, s3, bucket):
    resp = s3.get_bucket_versioning(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Status" not in resp and "MFADelete" not in resp
    raw = raw_signed(server, "GET", bucket, params={"versioning": ""})
    assert raw.status_code == 200
    assert parse_xml(raw.content).tag == "VersioningConfiguration"


def test_get_bucket_versioning_of_a_missing_bucket(s3):
    with s3_error("NoSuchBucket", 404):
        s3.get_bucket_versioning(Bucket=unique("nobucket"))


def test_head_service(server, s3, bucket):
    resp = signed_request(server, "HEAD", server.endpoint + "/")
    assert resp.status_code == 200
    assert resp.content == b""


def test_put_bucket_versioning_of_a_missing_bucket_creates_nothing(server, s3):
    """It was routed as CreateBucket: the bucket appeared and the answer was 200."""
    name = unique("ver")
    body = (
        b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Status>Enabled</Status></VersioningConfiguration>"
    )
    resp = raw_signed(server, "PUT", name, params={"versioning": ""}, body=body)
    assert resp.status_code == 404, resp.text
    assert error_code_of(resp) == "NoSuchBucket"
    assert not _bucket_exists(s3, name)


def test_put_bucket_versioning_on_an_existing_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert get_bytes(s3, bucket, "k") == b"kept"
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")  # the bucket fixture's cleanup


@pytest.mark.parametrize(
    ("method", "sub"),
    [("DELETE", "location"), ("DELETE", "versions"), ("DELETE", "uploads"), ("PUT", "delete")],
)
def test_method_not_allowed_on_a_subresource_leaves_the_bucket(server, s3, bucket, method, sub):
    """`DELETE /b?location` would have run DeleteBucket (on an empty bucket: deleted it)."""
    resp = raw_signed(server, method, bucket, params={sub: ""})
    assert resp.status_code == 405, resp.text
    assert error_code_of(resp) == "MethodNotAllowed"
    assert _bucket_exists(s3, bucket)


def test_delete_object_with_a_bucket_subresource_deletes_nothing(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"still here")
    resp = raw_signed(server, "DELETE", bucket, "k", params={"uploads": ""})
    assert resp.status_code == 405, resp.text
    assert error_code_of(resp) == "MethodNotAllowed"
    assert get_bytes(s3, bucket, "k") == b"still here"


@pytest.mark.parametrize(
    ("method", "key", "sub"),
    [
        ("GET", None, "website"),
        ("PUT", None, "accelerate"),
        ("DELETE", None, "replication"),
        ("GET", None, "logging"),
        ("PUT", None, "logging"),
        ("POST", "k", "restore"),
    ],
)
def test_not_implemented_subresources(server, s3, bucket, method, key, sub):
    s3.put_object(Bucket=bucket, Key="k", Body=b"untouched")
    resp = raw_signed(server, method, bucket, key, params={sub: ""})
    assert resp.status_code == 501, resp.text
    assert error_code_of(resp) == "NotImplemented"
    assert get_bytes(s3, bucket, "k") == b"untouched"
    assert _bucket_exists(s3, bucket)


def test_method_not_allowed_on_the_service(server):
    for method in ("PUT", "DELETE", "POST"):
        resp = signed_request(server, method, server.endpoint + "/")
        assert resp.status_code == 405, (method, resp.text)
        assert error_code_of(resp) == "MethodNotAllowed"


def test_unsupported_post(server, s3, bucket):
    resp = raw_signed(server, "POST", bucket, "k", body=b"x")
    assert resp.status_code == 400, resp.text
    assert error_code_of(resp) == "InvalidRequest"
    assert object_absent(s3, bucket, "k")


def test_post_on_a_bucket_that_is_no_form(server, s3, bucket):
    """POST /bucket is PostObject (an HTML form upload); a body that is not
    multipart/form-data is refused as S3 refuses it."""
    resp = raw_signed(server, "POST", bucket, None, body=b"x")
    assert resp.status_code == 412, resp.text
    assert error_code_of(resp) == "PreconditionFailed"
    assert object_absent(s3, bucket, "k")


def test_entity_too_large(server, s3, bucket):
    """A declared size over 5 GiB is refused before the body is read (the body sent is
    small: the declared length is what is checked first)."""
    data = b"tiny"
    headers, body = s3sign.signed_streaming(
        object_url(server, bucket, "huge"),
        data,
        access_key=server.access_key,
        secret_key=server.secret_key,
        headers={"x-amz-decoded-content-length": str((5 << 30) + 1)},
    )
    resp = httpx.put(object_url(server, bucket, "huge"), headers=headers, content=body)
    assert resp.status_code == 400, resp.text
    assert error_code_of(resp) == "EntityTooLarge"
    assert object_absent(s3, bucket, "huge")


def test_metadata_too_large(s3, bucket):
    with s3_error("MetadataTooLarge", 400):
        s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata={"big": "v" * 2100})
    assert object_absent(s3, bucket, "m")
    # Just under the limit (2 KB of names and values) is accepted.
    s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata={"big": "v" * 2000})
    assert s3.head_object(Bucket=bucket, Key="m")["Metadata"] == {"big": "v" * 2000}


def test_no_such_version(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    with s3_error("NoSuchVersion", 404):
        s3.get_object(Bucket=bucket, Key="k", VersionId="0" * 32)
    resp = raw_signed(server, "HEAD", bucket, "k", params={"versionId": "0" * 32})
    assert resp.status_code == 404
    # An id no version could have is malformed, as AWS answers it.
    with s3_error("InvalidArgument", 400):
        s3.get_object(Bucket=bucket, Key="k", VersionId="no-such-version")
    # "null" is the version of an object in an unversioned bucket.
    assert get_bytes(s3, bucket, "k", VersionId="null") == b"v"


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 200_000])
def test_signed_aws_chunked_upload(server, s3, bucket, size):
    data = bytes(i % 251 for i in range(size))
    url = object_url(server, bucket, "chunked key")
    headers, body = s3sign.signed_streaming(
        url,
        data,
        access_key=server.access_key,
        secret_key=server.secret_key,
        chunk_size=64 * 1024,
        headers={"Content-Type": "text/plain"},
    )
    sent = {k.lower(): v for k, v in headers.items()}
    assert sent["x-amz-content-sha256"] == s3sign.STREAMING_SIGNED
    assert sent["content-encoding"] == "aws-chunked"
    assert body.count(b";chunk-signature=") == size // (64 * 1024) + (size % (64 * 1024) > 0) + 1
    resp = httpx.put(url, headers=headers, content=body)
    assert resp.status_code == 200, resp.text
    got = s3.get_object(Bucket=bucket, Key="chunked key")
    assert got["Body"].read() == data
    assert got["ContentLength"] == size
    assert got["ContentType"] == "text/plain"
    # aws-chunked is the transfer's encoding, not the object's.
    assert "ContentEncoding" not in got


def test_signed_aws_chunked_upload_with_a_bad_chunk_signature(server, s3, bucket):
    data = bytes(200_000)
    url = object_url(server, bucket, "tampered")
    headers, body = s3sign.signed_streaming(
        url, data, access_key=server.access_key, secret_key=server.secret_key
    )
    resp = httpx.put(url, headers=headers, content=s3sign.tamper_chunk_signature(body, 1))
    assert resp.status_code == 403, resp.text
    assert error_code_of(resp) == "SignatureDoesNotMatch"
    assert object_absent(s3, bucket, "tampered")
