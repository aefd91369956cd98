"""CopyObject: metadata directives, self-copy, copy-source conditions, cross-bucket, large."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.helpers import (
    get_bytes,
    object_absent,
    quoted_etag,
    s3_error,
    status_of,
)

BODY = b"copy me, please"


@pytest.fixture
def src(s3, bucket):
    s3.put_object(
        Bucket=bucket,
        Key="src",
        Body=BODY,
        ContentType="text/x-cairn",
        ContentEncoding="identity",
        ContentDisposition="inline",
        ContentLanguage="en",
        CacheControl="no-cache",
        Metadata={"origin": "source", "n": "1"},
    )
    head = s3.head_object(Bucket=bucket, Key="src")
    return head


@pytest.fixture
def other_bucket(s3):
    name = f"copy-dst-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def test_copy_default_directive_preserves_metadata(s3, bucket, src):
    resp = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert status_of(resp) == 200
    result = resp["CopyObjectResult"]
    assert result["ETag"] == quoted_etag(BODY) == src["ETag"]
    assert abs(result["LastModified"] - datetime.now(UTC)) < timedelta(seconds=10)
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ContentType"] == "text/x-cairn"
    assert head["ContentDisposition"] == "inline"
    assert head["ContentLanguage"] == "en"
    assert head["CacheControl"] == "no-cache"
    assert head["ContentEncoding"] == "identity"
    assert head["Metadata"] == {"origin": "source", "n": "1"}
    assert head["ETag"] == src["ETag"]
    assert head["LastModified"] == result["LastModified"].replace(microsecond=0)
    assert get_bytes(s3, bucket, "dst") == BODY


def test_copy_explicit_copy_directive_ignores_new_metadata(s3, bucket, src):
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="COPY",
        Metadata={"ignored": "yes"},
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"origin": "source", "n": "1"}
    assert head["ContentType"] == "text/x-cairn"


def test_copy_replace_directive(s3, bucket, src):
    resp = s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        ContentType="application/x-new",
        Metadata={"fresh": "meta"},
    )
    assert resp["CopyObjectResult"]["ETag"] == src["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"fresh": "meta"}
    assert head["ContentType"] == "application/x-new"
    assert "CacheControl" not in head
    assert "ContentDisposition" not in head
    assert get_bytes(s3, bucket, "dst") == BODY
    # The source is untouched.
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"origin": "source", "n": "1"}


def test_copy_onto_itself_with_replace(s3, bucket, src):
    resp = s3.copy_object(
        Bucket=bucket,
        Key="src",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        ContentType="text/plain",
        Metadata={"updated": "true"},
    )
    assert status_of(resp) == 200
    assert resp["CopyObjectResult"]["ETag"] == src["ETag"]
    head = s3.head_object(Bucket=bucket, Key="src")
    assert head["Metadata"] == {"updated": "true"}
    assert head["ContentType"] == "text/plain"
    assert get_bytes(s3, bucket, "src") == BODY
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["src"]


def test_copy_onto_itself_without_changes_is_invalid(s3, bucket, src):
    with s3_error("InvalidRequest", 400):
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    head = s3.head_object(Bucket=bucket, Key="src")
    assert head["Metadata"] == {"origin": "source", "n": "1"}
    assert head["LastModified"] == src["LastModified"]
    assert get_bytes(s3, bucket, "src") == BODY


def test_copy_missing_source_key(s3, bucket):
    with s3_error("NoSuchKey", 404):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "absent"})
    assert object_absent(s3, bucket, "dst")


def test_copy_missing_source_bucket(s3, bucket):
    with s3_error("NoSuchBucket", 404):
        s3.copy_object(
            Bucket=bucket,
            Key="dst",
            CopySource={"Bucket": f"nope-{uuid.uuid4().hex[:10]}", "Key": "src"},
        )
    assert object_absent(s3, bucket, "dst")


def test_copy_into_missing_bucket(s3, bucket, src):
    with s3_error("NoSuchBucket", 404):
        s3.copy_object(
            Bucket=f"nope-{uuid.uuid4().hex[:10]}",
            Key="dst",
            CopySource={"Bucket": bucket, "Key": "src"},
        )


def test_copy_across_buckets(s3, bucket, other_bucket, src):
    resp = s3.copy_object(
        Bucket=other_bucket, Key="moved/here", CopySource={"Bucket": bucket, "Key": "src"}
    )
    assert resp["CopyObjectResult"]["ETag"] == src["ETag"]
    assert get_bytes(s3, other_bucket, "moved/here") == BODY
    head = s3.head_object(Bucket=other_bucket, Key="moved/here")
    assert head["Metadata"] == {"origin": "source", "n": "1"}
    assert head["ContentType"] == "text/x-cairn"
    # Deleting the source does not affect the copy.
    s3.delete_object(Bucket=bucket, Key="src")
    assert get_bytes(s3, other_bucket, "moved/here") == BODY


@pytest.mark.parametrize(
    "key",
    ["with space", "plus+sign", "pct%20x", "q?a#b&c=d", "ü/日本/€", "a//b", "/lead", "emoji😀"],
)
def test_copy_source_special_characters(s3, bucket, key):
    body = os.urandom(100)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    resp = s3.copy_object(
        Bucket=bucket, Key=key + ".copy", CopySource={"Bucket": bucket, "Key": key}
    )
    assert resp["CopyObjectResult"]["ETag"] == quoted_etag(body)
    assert get_bytes(s3, bucket, key + ".copy") == body
    # The string form of CopySource, url-encoded by botocore, works as well.
    s3.copy_object(Bucket=bucket, Key="str-form", CopySource=f"{bucket}/{key}")
    assert get_bytes(s3, bucket, "str-form") == body


def test_copy_zero_byte_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="zero", Body=b"")
    resp = s3.copy_object(Bucket=bucket, Key="zero2", CopySource={"Bucket": bucket, "Key": "zero"})
    assert resp["CopyObjectResult"]["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert s3.head_object(Bucket=bucket, Key="zero2")["ContentLength"] == 0


def test_copy_large_object(s3, bucket):
    body = os.urandom(9 * 1024 * 1024)
    put = s3.put_object(Bucket=bucket, Key="big", Body=body)
    resp = s3.copy_object(
        Bucket=bucket, Key="big.copy", CopySource={"Bucket": bucket, "Key": "big"}
    )
    assert resp["CopyObjectResult"]["ETag"] == put["ETag"]
    got = s3.get_object(Bucket=bucket, Key="big.copy")
    assert got["ContentLength"] == len(body)
    assert hashlib.md5(got["Body"].read()).hexdigest() == hashlib.md5(body).hexdigest()
    # Overwriting the source afterwards leaves the copy intact.
    s3.put_object(Bucket=bucket, Key="big", Body=b"small now")
    assert hashlib.md5(get_bytes(s3, bucket, "big.copy")).digest() == hashlib.md5(body).digest()


def test_copy_overwrites_existing_destination(s3, bucket, src):
    s3.put_object(Bucket=bucket, Key="dst", Body=b"old", Metadata={"old": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert get_bytes(s3, bucket, "dst") == BODY
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"origin": "source", "n": "1"}


# --- copy-source conditions ---------------------------------------------------------------

WRONG = '"0123456789abcdef0123456789abcdef"'


def copy(s3, bucket, **kw):
    return s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, **kw
    )


def test_copy_if_match(s3, bucket, src):
    with s3_error("PreconditionFailed", 412):
        copy(s3, bucket, CopySourceIfMatch=WRONG)
    assert object_absent(s3, bucket, "dst")
    assert status_of(copy(s3, bucket, CopySourceIfMatch=src["ETag"])) == 200
    assert get_bytes(s3, bucket, "dst") == BODY


def test_copy_if_none_match(s3, bucket, src):
    with s3_error("PreconditionFailed", 412):
        copy(s3, bucket, CopySourceIfNoneMatch=src["ETag"])
    assert object_absent(s3, bucket, "dst")
    assert status_of(copy(s3, bucket, CopySourceIfNoneMatch=WRONG)) == 200
    assert get_bytes(s3, bucket, "dst") == BODY


def test_copy_if_modified_since(s3, bucket, src):
    with s3_error("PreconditionFailed", 412):
        copy(s3, bucket, CopySourceIfModifiedSince=src["LastModified"])
    assert object_absent(s3, bucket, "dst")
    earlier = src["LastModified"] - timedelta(days=1)
    assert status_of(copy(s3, bucket, CopySourceIfModifiedSince=earlier)) == 200
    assert get_bytes(s3, bucket, "dst") == BODY


def test_copy_if_unmodified_since(s3, bucket, src):
    earlier = src["LastModified"] - timedelta(days=1)
    with s3_error("PreconditionFailed", 412):
        copy(s3, bucket, CopySourceIfUnmodifiedSince=earlier)
    assert object_absent(s3, bucket, "dst")
    assert status_of(copy(s3, bucket, CopySourceIfUnmodifiedSince=src["LastModified"])) == 200
    assert get_bytes(s3, bucket, "dst") == BODY


def test_copy_if_match_true_and_unmodified_since_false_copies(s3, bucket, src):
    earlier = src["LastModified"] - timedelta(days=1)
    resp = copy(s3, bucket, CopySourceIfMatch=src["ETag"], CopySourceIfUnmodifiedSince=earlier)
    assert status_of(resp) == 200
    assert get_bytes(s3, bucket, "dst") == BODY


def test_copy_if_none_match_false_and_modified_since_true_fails(s3, bucket, src):
    earlier = src["LastModified"] - timedelta(days=1)
    with s3_error("PreconditionFailed", 412):
        copy(s3, bucket, CopySourceIfNoneMatch=src["ETag"], CopySourceIfModifiedSince=earlier)
    assert object_absent(s3, bucket, "dst")


def test_copy_condition_failure_leaves_existing_destination(s3, bucket, src):
    s3.put_object(Bucket=bucket, Key="dst", Body=b"previous")
    with s3_error("PreconditionFailed", 412):
        copy(s3, bucket, CopySourceIfMatch=WRONG)
    assert get_bytes(s3, bucket, "dst") == b"previous"
