"""GetObjectAttributes end to end (boto3 against a real server): the asked-for attributes
of simple, checksummed, multipart and versioned objects; parts paged with markers; and
AWS's errors for a missing key, a bad attribute name and a bad max-parts."""

from __future__ import annotations

import base64
import hashlib

from tests.integration.authz_util import (
    DENIED,
    bootstrap_user,
    code,
    new_user,
    policy_for,
    user_client,
)
from tests.integration.helpers import raw_signed, s3_error, unique
from tests.server import CairnServer

ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
PART = 5 * 1024 * 1024


def test_simple_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"foo")
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert got["ETag"] == put["ETag"].strip('"')
    assert got["ObjectSize"] == 3
    assert got["StorageClass"] == "STANDARD"
    assert "ObjectParts" not in got and "VersionId" not in got
    assert got["LastModified"] == s3.head_object(Bucket=bucket, Key="k")["LastModified"]


def test_only_what_was_asked(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"foo", StorageClass="STANDARD_IA")
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["StorageClass"])
    assert got["StorageClass"] == "STANDARD_IA"
    assert "ETag" not in got and "ObjectSize" not in got


def test_checksum(s3, bucket):
    body = b"A" * 1024
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert got["Checksum"]["ChecksumSHA256"] == digest


def test_multipart_parts_paged(s3, bucket):
    key = unique("mp")
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    sizes = [PART, PART, PART, 1234]
    parts = []
    for n, size in enumerate(sizes, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n, Body=b"x" * size)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": parts}
    )
    whole = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=ALL)
    assert whole["ETag"] == done["ETag"].strip('"')
    assert whole["ObjectSize"] == sum(sizes)
    op = whole["ObjectParts"]
    assert op["TotalPartsCount"] == 4 and op["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == list(enumerate(sizes, 1))
    page = s3.get_object_attributes(
        Bucket=bucket, Key=key, ObjectAttributes=["ObjectParts"], MaxParts=2, PartNumberMarker=1
    )["ObjectParts"]
    assert page["IsTruncated"] is True and page["NextPartNumberMarker"] == 3
    assert page["PartNumberMarker"] == 1 and page["MaxParts"] == 2
    assert [p["PartNumber"] for p in page["Parts"]] == [2, 3]
    last = s3.get_object_attributes(
        Bucket=bucket, Key=key, ObjectAttributes=["ObjectParts"], PartNumberMarker=3
    )["ObjectParts"]
    assert last["IsTruncated"] is False and [p["Size"] for p in last["Parts"]] == [1234]


def test_versions(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    latest = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert latest["ObjectSize"] == 6 and latest["VersionId"] != first["VersionId"]
    old = s3.get_object_attributes(
        Bucket=bucket, Key="k", VersionId=first["VersionId"], ObjectAttributes=ALL
    )
    assert old["ObjectSize"] == 3 and old["VersionId"] == first["VersionId"]
    assert old["ETag"] == first["ETag"].strip('"')


def test_errors(server, s3, bucket):
    with s3_error("NoSuchKey", 404):
        s3.get_object_attributes(Bucket=bucket, Key="absent", ObjectAttributes=ALL)
    s3.put_object(Bucket=bucket, Key="k", Body=b"foo")
    for headers in ({}, {"x-amz-object-attributes": "ETag,Colour"}):
        r = raw_signed(server, "GET", bucket, "k", params={"attributes": ""}, headers=headers)
        assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content
    r = raw_signed(
        server,
        "GET",
        bucket,
        "k",
        params={"attributes": ""},
        headers={"x-amz-object-attributes": "ETag", "x-amz-max-parts": "-1"},
    )
    assert r.status_code == 400 and b"<Code>InvalidArgument</Code>" in r.content


def test_a_version_by_id_needs_the_version_action(tmp_path):
    """s3:GetObjectAttributes with s3:GetObject serves the current version only, and
    neither alone does; one named by versionId needs s3:GetObjectVersionAttributes with
    s3:GetObjectVersion, as on AWS."""
    srv = CairnServer(tmp_path / "data").start()
    try:
        bob = new_user(srv, "bob")
        ca, cb = user_client(srv, bootstrap_user(srv)), user_client(srv, bob)
        name = unique("attrv")
        ca.create_bucket(Bucket=name)
        ca.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        v1 = ca.put_object(Bucket=name, Key="k", Body=b"one")["VersionId"]

        def grant(*actions: str) -> None:
            ca.put_bucket_policy(
                Bucket=name, Policy=policy_for(bob.user_id, [*actions], [f"arn:aws:s3:::{name}/*"])
            )

        def current() -> object:
            return cb.get_object_attributes(Bucket=name, Key="k", ObjectAttributes=["ETag"])

        def by_id() -> object:
            return cb.get_object_attributes(
                Bucket=name, Key="k", VersionId=v1, ObjectAttributes=["ETag"]
            )

        assert code(current) in DENIED
        grant("s3:GetObjectAttributes")
        assert code(current) in DENIED  # without s3:GetObject
        grant("s3:GetObject")
        assert code(current) in DENIED  # without s3:GetObjectAttributes
        grant("s3:GetObjectAttributes", "s3:GetObject")
        assert current()["VersionId"] == v1  # type: ignore[index]
        assert code(by_id) in DENIED
        grant("s3:GetObjectVersionAttributes")
        assert code(by_id) in DENIED  # without s3:GetObjectVersion
        grant("s3:GetObjectVersionAttributes", "s3:GetObjectVersion")
        assert by_id()["VersionId"] == v1  # type: ignore[index]
        assert code(current) in DENIED
    finally:
        srv.stop()
