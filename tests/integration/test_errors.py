"""Authentication failures and error documents; every negative test checks nothing changed."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.conftest import make_client
from tests.integration.helpers import (
    error_code_of,
    get_bytes,
    object_absent,
    object_url,
    parse_xml,
    raw_signed,
    s3_error,
    signed_request,
)


def client_with(server, access_key: str, secret_key: str):
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_wrong_secret_key(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    bad = client_with(server, server.access_key, server.secret_key + "x")
    with s3_error("SignatureDoesNotMatch", 403):
        bad.get_object(Bucket=bucket, Key="k")
    with s3_error("SignatureDoesNotMatch", 403):
        bad.put_object(Bucket=bucket, Key="k", Body=b"overwritten")
    with s3_error("SignatureDoesNotMatch", 403):
        bad.put_object(Bucket=bucket, Key="new", Body=b"x")
    with s3_error("SignatureDoesNotMatch", 403):
        bad.delete_object(Bucket=bucket, Key="k")
    with s3_error("SignatureDoesNotMatch", 403):
        bad.list_objects_v2(Bucket=bucket)
    assert get_bytes(s3, bucket, "k") == b"original"
    assert object_absent(s3, bucket, "new")


def test_unknown_access_key(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    bad = client_with(server, "AKIAUNKNOWNKEY000000", server.secret_key)
    with s3_error("InvalidAccessKeyId", 403):
        bad.get_object(Bucket=bucket, Key="k")
    with s3_error("InvalidAccessKeyId", 403):
        bad.put_object(Bucket=bucket, Key="k", Body=b"overwritten")
    with s3_error("InvalidAccessKeyId", 403):
        bad.list_buckets()
    name = f"never-{uuid.uuid4().hex[:10]}"
    with s3_error("InvalidAccessKeyId", 403):
        bad.create_bucket(Bucket=name)
    assert get_bytes(s3, bucket, "k") == b"original"
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_anonymous_requests_denied(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"private data")
    url = object_url(server, bucket, "k")
    resp = httpx.get(url)
    assert resp.status_code == 403
    assert parse_xml(resp.content).findtext("Code") == "AccessDenied"
    assert b"private data" not in resp.content

    resp = httpx.put(url, content=b"anonymous overwrite")
    assert resp.status_code == 403
    assert parse_xml(resp.content).findtext("Code") == "AccessDenied"

    resp = httpx.put(object_url(server, bucket, "anon-new"), content=b"x")
    assert resp.status_code == 403

    resp = httpx.delete(url)
    assert resp.status_code == 403

    resp = httpx.get(object_url(server, bucket))
    assert resp.status_code == 403
    assert parse_xml(resp.content).findtext("Code") == "AccessDenied"

    resp = httpx.get(server.endpoint + "/")
    assert resp.status_code == 403

    assert get_bytes(s3, bucket, "k") == b"private data"
    assert object_absent(s3, bucket, "anon-new")


def test_no_such_key_error_document(server, s3, bucket):
    s3v4 = make_client(server, signature_version="s3v4")
    url = s3v4.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "missing/key.txt"}, ExpiresIn=300
    )
    resp = httpx.get(url)
    assert resp.status_code == 404
    assert "xml" in resp.headers.get("content-type", "")
    assert resp.headers.get("x-amz-request-id")
    root = parse_xml(resp.content)
    assert root.tag == "Error"
    assert root.findtext("Code") == "NoSuchKey"
    assert root.findtext("Message")
    resource = root.findtext("Resource") or ""
    assert "missing/key.txt" in resource
    request_id = root.findtext("RequestId")
    assert request_id
    assert request_id == resp.headers["x-amz-request-id"]


def test_no_such_key_via_boto3(s3, bucket):
    with s3_error("NoSuchKey", 404) as ei:
        s3.get_object(Bucket=bucket, Key="absent")
    assert ei.value.response["Error"]["Message"]


def test_no_such_bucket(server, s3):
    name = f"missing-{uuid.uuid4().hex[:12]}"
    with s3_error("NoSuchBucket", 404):
        s3.get_object(Bucket=name, Key="k")
    with s3_error("NoSuchBucket", 404):
        s3.list_objects(Bucket=name)
    with s3_error("NoSuchBucket", 404):
        s3.put_object(Bucket=name, Key="k", Body=b"x")
    with s3_error("NoSuchBucket", 404):
        s3.delete_object(Bucket=name, Key="k")
    resp = raw_signed(server, "GET", name, params={"list-type": "2"})
    assert resp.status_code == 404
    root = parse_xml(resp.content)
    assert root.findtext("Code") == "NoSuchBucket"
    assert root.findtext("RequestId")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize("skew", [timedelta(minutes=-20), timedelta(minutes=20)])
def test_request_time_too_skewed(server, s3, bucket, skew):
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    when = datetime.now(UTC) + skew
    resp = raw_signed(server, "GET", bucket, "k", when=when)
    assert resp.status_code == 403, resp.text
    assert parse_xml(resp.content).findtext("Code") == "RequestTimeTooSkewed"
    assert b"original" not in resp.content

    resp = raw_signed(server, "PUT", bucket, "k", body=b"skewed write", when=when)
    assert resp.status_code == 403, resp.text
    assert parse_xml(resp.content).findtext("Code") == "RequestTimeTooSkewed"
    resp = raw_signed(server, "PUT", bucket, "skewed-new", body=b"x", when=when)
    assert resp.status_code == 403, resp.text
    assert get_bytes(s3, bucket, "k") == b"original"
    assert object_absent(s3, bucket, "skewed-new")


def test_small_clock_skew_is_accepted(server, s3, bucket):
    when = datetime.now(UTC) - timedelta(minutes=3)
    resp = raw_signed(server, "PUT", bucket, "k", body=b"slightly late", when=when)
    assert resp.status_code == 200, resp.text
    assert get_bytes(s3, bucket, "k") == b"slightly late"


def test_raw_signed_request_sanity(server, s3, bucket):
    # The raw signer used by the negative tests produces requests the server accepts.
    resp = raw_signed(server, "PUT", bucket, "raw ü+x", body=b"raw body")
    assert resp.status_code == 200, resp.text
    assert resp.headers["etag"] == f'"{hashlib.md5(b"raw body").hexdigest()}"'
    resp = raw_signed(server, "GET", bucket, "raw ü+x")
    assert resp.status_code == 200
    assert resp.content == b"raw body"
    assert get_bytes(s3, bucket, "raw ü+x") == b"raw body"


def test_content_sha256_mismatch(server, s3, bucket):
    wrong = hashlib.sha256(b"not the body").hexdigest()
    resp = raw_signed(server, "PUT", bucket, "sha", body=b"the body", payload_hash=wrong)
    assert resp.status_code == 400, resp.text
    assert parse_xml(resp.content).findtext("Code") == "XAmzContentSHA256Mismatch"
    assert object_absent(s3, bucket, "sha")


def test_content_sha256_mismatch_existing_unchanged(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="sha", Body=b"original")
    body = b"x" * 100_000
    wrong = hashlib.sha256(body[:-1]).hexdigest()
    resp = raw_signed(server, "PUT", bucket, "sha", body=body, payload_hash=wrong)
    assert resp.status_code == 400, resp.text
    assert parse_xml(resp.content).findtext("Code") == "XAmzContentSHA256Mismatch"
    assert get_bytes(s3, bucket, "sha") == b"original"


def test_content_sha256_mismatch_large_body(server, s3, bucket):
    # 9 MiB spans several blocks: a streaming server must not commit before checking.
    s3.put_object(Bucket=bucket, Key="big-sha", Body=b"original")
    body = os.urandom(9 * 1024 * 1024)
    # The last byte flipped, so the hash is of a different body whatever the random bytes.
    wrong = hashlib.sha256(body[:-1] + bytes([body[-1] ^ 1])).hexdigest()
    for key in ("big-sha", "big-sha-new"):
        resp = raw_signed(server, "PUT", bucket, key, body=body, payload_hash=wrong)
        assert resp.status_code == 400, resp.text
        assert parse_xml(resp.content).findtext("Code") == "XAmzContentSHA256Mismatch"
    assert get_bytes(s3, bucket, "big-sha") == b"original"
    assert object_absent(s3, bucket, "big-sha-new")


def test_error_on_head_has_no_body(server, s3, bucket):
    resp = raw_signed(server, "HEAD", bucket, "nothing-here")
    assert resp.status_code == 404
    assert resp.content == b""


def test_key_that_is_not_utf8_is_invalid_uri(server, s3, bucket):
    """A percent-encoded key whose bytes are not UTF-8 names no key: 400 InvalidURI, not a
    lookup of some other key. The same code points sent as UTF-8 are an ordinary key."""
    for path in (f"/{bucket}/%AE%8A-", f"/{bucket}/a%C0%80b"):
        r = signed_request(server, "GET", server.endpoint + path)
        assert r.status_code == 400, r.text
        assert error_code_of(r) == "InvalidURI"
        assert parse_xml(r.content).findtext("Message") == "Couldn't parse the specified URI."
    key = "\xae\x8a-"
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key=key)
    s3.put_object(Bucket=bucket, Key=key, Body=b"c1")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"c1"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


def test_cors_preflight_without_cors_configuration(server, s3, bucket):
    """OPTIONS (unsigned, as browsers send it) is a CORS preflight: with no CORS
    configuration S3 refuses it with 403 AccessForbidden, or 400 when it lacks Origin or a
    CORS method; never 405."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "PUT"}
    for url, resource in (
        (object_url(server, bucket, "k"), "OBJECT"),
        (object_url(server, bucket), "BUCKET"),
    ):
        r = httpx.options(url, headers=preflight)
        assert r.status_code == 403, r.text
        doc = parse_xml(r.content)
        assert doc.findtext("Code") == "AccessForbidden"
        assert doc.findtext("Message") == "CORSResponse: CORS is not enabled for this bucket."
        assert (doc.findtext("Method"), doc.findtext("ResourceType")) == ("PUT", resource)
        assert "access-control-allow-origin" not in r.headers
    r = httpx.options(object_url(server, bucket, "k"))
    assert r.status_code == 400
    assert parse_xml(r.content).findtext("Code") == "BadRequest"
    r = httpx.options(object_url(server, bucket, "k"), headers={"Origin": "https://example.com"})
    assert r.status_code == 400
    assert "Access-Control-Request-Method: null" in parse_xml(r.content).findtext("Message")
    assert get_bytes(s3, bucket, "k") == b"v"


def test_get_object_torrent(s3, bucket):
    """No torrents are served (S3 discontinued BitTorrent): NotImplemented for an object
    that exists, and the answers of GetObject for a missing key or bucket."""
    with s3_error("NoSuchKey", 404):
        s3.get_object_torrent(Bucket=bucket, Key="missing")
    with s3_error("NoSuchBucket", 404):
        s3.get_object_torrent(Bucket=bucket + "-missing", Key="k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    with s3_error("NotImplemented", 501):
        s3.get_object_torrent(Bucket=bucket, Key="k")
