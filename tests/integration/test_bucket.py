"""Bucket API: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    error_code_of,
    headers_of,
    raw_signed,
    s3_error,
    signed_request,
    status_of,
)


def new_name() -> str:
    return f"bkt-{uuid.uuid4().hex[:16]}"


def bucket_names(s3) -> list[str]:
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_create_list_head_delete_bucket(s3):
    name = new_name()
    resp = s3.create_bucket(Bucket=name)
    assert status_of(resp) == 200
    try:
        listed = s3.list_buckets()
        assert status_of(listed) == 200
        entry = next(b for b in listed["Buckets"] if b["Name"] == name)
        created = entry["CreationDate"]
        assert created.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - created) < timedelta(seconds=30)
        assert "Owner" in listed and listed["Owner"].get("ID")
        # Buckets are listed in name order.
        names = [b["Name"] for b in listed["Buckets"]]
        assert names == sorted(names)

        head = s3.head_bucket(Bucket=name)
        assert status_of(head) == 200
    finally:
        resp = s3.delete_bucket(Bucket=name)
    assert status_of(resp) == 204
    assert name not in bucket_names(s3)
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=name)
    assert status_of(ei.value.response) == 404


def test_head_missing_bucket_is_404(s3):
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=new_name())
    assert status_of(ei.value.response) == 404


def test_create_bucket_with_location_constraint(private_server):
    # A server configured for eu-west-1, addressed by a client in that region.
    private_server.extra_args = ["--region", "eu-west-1"]
    private_server.start()
    s3 = boto3.client(
        "s3",
        endpoint_url=private_server.endpoint,
        aws_access_key_id=private_server.access_key,
        aws_secret_access_key=private_server.secret_key,
        region_name="eu-west-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    name = new_name()
    resp = s3.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    assert status_of(resp) == 200
    assert name in bucket_names(s3)
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    assert headers_of(s3.head_bucket(Bucket=name)).get("x-amz-bucket-region") == "eu-west-1"

    # A constraint naming another region is refused, and nothing is created.
    other = new_name()
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(
            Bucket=other, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"}
        )
    assert status_of(ei.value.response) == 400
    assert ei.value.response["Error"]["Code"] in (
        "IllegalLocationConstraintException",
        "InvalidLocationConstraint",
    )
    assert other not in bucket_names(s3)

    # Outside us-east-1, creating a bucket one already owns is 409 BucketAlreadyOwnedByYou.
    with s3_error("BucketAlreadyOwnedByYou", 409):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})


def test_create_bucket_without_configuration_location(s3):
    name = new_name()
    assert status_of(s3.create_bucket(Bucket=name)) == 200
    try:
        # us-east-1 is reported as an empty LocationConstraint (None in boto3).
        assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") in (None, "")
    finally:
        s3.delete_bucket(Bucket=name)


def test_get_bucket_location_default_region(s3, bucket):
    loc = s3.get_bucket_location(Bucket=bucket)
    assert status_of(loc) == 200
    # us-east-1 is reported as an empty LocationConstraint (None in boto3).
    assert loc.get("LocationConstraint") in (None, "")


def test_get_bucket_location_missing_bucket(s3):
    with s3_error("NoSuchBucket", 404):
        s3.get_bucket_location(Bucket=new_name())


def test_create_existing_own_bucket(s3, bucket):
    """us-east-1 answers its owner's repeated CreateBucket with 200 (other regions: 409
    BucketAlreadyOwnedByYou, below) and the bucket and its content stay as they were."""
    s3.put_object(Bucket=bucket, Key="keep", Body=b"still here")
    assert status_of(s3.create_bucket(Bucket=bucket)) == 200
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"still here"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep"]


def test_delete_non_empty_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    with s3_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=bucket)
    assert status_of(s3.head_bucket(Bucket=bucket)) == 200
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"


def test_delete_bucket_after_emptying(s3):
    name = new_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="a", Body=b"x")
    s3.delete_object(Bucket=name, Key="a")
    assert status_of(s3.delete_bucket(Bucket=name)) == 204
    assert name not in bucket_names(s3)


def test_recreated_bucket_is_empty(s3):
    name = new_name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="old", Body=b"from the first life")
    s3.delete_object(Bucket=name, Key="old")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
        with s3_error("NoSuchKey", 404):
            s3.get_object(Bucket=name, Key="old")
    finally:
        s3.delete_bucket(Bucket=name)


def test_delete_missing_bucket(s3):
    with s3_error("NoSuchBucket", 404):
        s3.delete_bucket(Bucket=new_name())


def test_operations_on_missing_bucket(s3):
    name = new_name()
    with s3_error("NoSuchBucket", 404):
        s3.put_object(Bucket=name, Key="k", Body=b"x")
    with s3_error("NoSuchBucket", 404):
        s3.list_objects_v2(Bucket=name)
    with s3_error("NoSuchBucket", 404):
        s3.get_object(Bucket=name, Key="k")
    assert name not in bucket_names(s3)


INVALID_NAMES = [
    "ab",
    "UPPER",
    "a..b",
    "192.168.1.1",
    "-abc",
    "abc-",
    "a" * 64,
    "xn--abc",
    "under_score",
    ".abc",
]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_bucket_names(server, s3, name):
    # A raw signed request, so botocore's client-side checks cannot interfere.
    resp = raw_signed(server, "PUT", name)
    assert resp.status_code == 400, resp.text
    assert b"<Code>InvalidBucketName</Code>" in resp.content, resp.text
    assert name not in bucket_names(s3)


@pytest.mark.parametrize(
    "make",
    [
        lambda: uuid.uuid4().hex[:3],  # minimum length
        lambda: uuid.uuid4().hex + "a" * 31,  # maximum length, 63
        lambda: f"a.b-c.{uuid.uuid4().hex[:8]}",  # dots and hyphens
    ],
    ids=["3-chars", "63-chars", "dots-hyphens"],
)
def test_valid_edge_bucket_names(s3, make):
    name = make()
    assert status_of(s3.create_bucket(Bucket=name)) == 200
    try:
        assert name in bucket_names(s3)
        assert status_of(s3.head_bucket(Bucket=name)) == 200
    finally:
        s3.delete_bucket(Bucket=name)


def test_list_buckets_response_headers(s3):
    resp = s3.list_buckets()
    hdrs = headers_of(resp)
    assert hdrs.get("x-amz-request-id")
    assert "xml" in hdrs.get("content-type", "")


def test_list_buckets_paginated(s3):
    """max-buckets pages in name order with a continuation token; prefix narrows the
    list and is echoed; each bucket shows its region once a paging parameter is sent."""
    tag = uuid.uuid4().hex[:10]
    names = [f"pg-{tag}-{i}" for i in range(3)]
    for n in names:
        s3.create_bucket(Bucket=n)
    try:
        seen, token = [], None
        while True:
            kw = {"ContinuationToken": token} if token else {}
            page = s3.list_buckets(MaxBuckets=2, Prefix=f"pg-{tag}-", **kw)
            assert page["Prefix"] == f"pg-{tag}-"
            assert len(page["Buckets"]) <= 2
            assert all(b["BucketRegion"] == "us-east-1" for b in page["Buckets"])
            seen += [b["Name"] for b in page["Buckets"]]
            token = page.get("ContinuationToken")
            if token is None:
                break
        assert seen == names
        one = s3.list_buckets(MaxBuckets=1, Prefix=f"pg-{tag}-")
        assert [b["Name"] for b in one["Buckets"]] == names[:1] and "ContinuationToken" in one
        last = s3.list_buckets(MaxBuckets=1, Prefix=f"pg-{tag}-2")
        assert [b["Name"] for b in last["Buckets"]] == names[2:]
        assert "ContinuationToken" not in last
        assert s3.list_buckets(Prefix=f"pg-{tag}-", BucketRegion="eu-west-1")["Buckets"] == []
        plain = s3.list_buckets()
        assert "ContinuationToken" not in plain and "Prefix" not in plain
    finally:
        for n in names:
            s3.delete_bucket(Bucket=n)


@pytest.mark.parametrize("value", ["0", "10001", "x"])
def test_list_buckets_bad_max_buckets(server, value):
    resp = signed_request(server, "GET", server.endpoint + "/", params={"max-buckets": value})
    assert resp.status_code == 400
    assert error_code_of(resp) == "InvalidArgument"


def test_delete_bucket_with_open_uploads(s3):
    """A bucket with no objects is deleted even with multipart uploads open (they are
    aborted, as S3 does); one that holds an object keeps its uploads."""
    name = new_name()
    s3.create_bucket(Bucket=name)
    up = s3.create_multipart_upload(Bucket=name, Key="pending")["UploadId"]
    s3.upload_part(Bucket=name, Key="pending", UploadId=up, PartNumber=1, Body=b"part")
    s3.put_object(Bucket=name, Key="obj", Body=b"x")
    with s3_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=name)
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=name)["Uploads"]] == [up]
    s3.delete_object(Bucket=name, Key="obj")
    assert status_of(s3.delete_bucket(Bucket=name)) == 204
    assert name not in bucket_names(s3)
    with s3_error("NoSuchBucket", 404):
        s3.list_multipart_uploads(Bucket=name)
