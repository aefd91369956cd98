"""Object versioning against a real server with boto3: every write path makes a version,
reads, copies and deletes by version id, delete markers, suspended (null) versions,
DeleteObjects with versions, and ListObjectVersions paging."""

from __future__ import annotations

import re
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    error_code_of,
    headers_of,
    parse_xml,
    raw_signed,
    s3_error,
    status_of,
)

VID = re.compile(r"^[0-9a-f]{32}$")


def enable(s3, bucket: str, status: str = "Enabled") -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def versions_of(s3, bucket: str, **kw) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is delete marker) in listing order, all pages. boto3
    splits the interleaved Version and DeleteMarker entries into two lists, so the order
    is read from the XML as it was sent."""
    out: list[tuple[str, str, bool, bool]] = []

    def keep(http_response, **_kw) -> None:
        for el in parse_xml(http_response.content):
            if el.tag in ("Version", "DeleteMarker"):
                out.append((
                    el.findtext("Key"), el.findtext("VersionId"),
                    el.findtext("IsLatest") == "true", el.tag == "DeleteMarker",
                ))  # fmt: skip

    s3.meta.events.register("after-call.s3.ListObjectVersions", keep)
    try:
        for _ in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, **kw):
            pass
    finally:
        s3.meta.events.unregister("after-call.s3.ListObjectVersions", keep)
    return out


def purge(s3, bucket: str) -> None:
    for key, vid, _, _ in versions_of(s3, bucket):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=vid)


@pytest.fixture
def vbucket(s3, bucket):
    enable(s3, bucket)
    yield bucket
    purge(s3, bucket)


def test_versioning_configuration(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


@pytest.mark.parametrize(
    "body",
    [
        b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>",
        b"<VersioningConfiguration><Bogus>1</Bogus></VersioningConfiguration>",
        b"<VersioningConfiguration><Status>Enabled</Status>",
        b"<Other><Status>Enabled</Status></Other>",
    ],
)
def test_malformed_versioning_changes_nothing(server, s3, bucket, body):
    resp = raw_signed(server, "PUT", bucket, params={"versioning": ""}, body=body)
    assert resp.status_code == 400 and error_code_of(resp) == "MalformedXML", resp.text
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_mfa_delete_refused(s3, bucket):
    with s3_error("AccessDenied", 403):
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}
        )
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_every_write_path_makes_a_version(s3, vbucket):
    ids = [s3.put_object(Bucket=vbucket, Key="k", Body=b"put")["VersionId"]]
    copy = s3.copy_object(Bucket=vbucket, Key="k", CopySource={"Bucket": vbucket, "Key": "k"},
                          MetadataDirective="REPLACE")  # fmt: skip
    ids.append(copy["VersionId"])
    assert copy["CopySourceVersionId"] == ids[0]
    up = s3.create_multipart_upload(Bucket=vbucket, Key="k")
    part = s3.upload_part(
        Bucket=vbucket, Key="k", UploadId=up["UploadId"], PartNumber=1, Body=b"mp"
    )
    done = s3.complete_multipart_upload(
        Bucket=vbucket, Key="k", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )  # fmt: skip
    ids.append(done["VersionId"])
    post = s3.generate_presigned_post(vbucket, "k")
    import httpx

    resp = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"post")})
    assert resp.status_code == 204, resp.text
    ids.append(resp.headers["x-amz-version-id"])
    assert all(VID.match(v) for v in ids) and len(set(ids)) == 4
    listed = versions_of(s3, vbucket)
    assert [v for _, v, _, _ in listed] == ids[::-1]  # newest first
    assert [latest for _, _, latest, _ in listed] == [True, False, False, False]
    bodies = [s3.get_object(Bucket=vbucket, Key="k", VersionId=v)["Body"].read() for v in ids]
    assert bodies == [b"put", b"put", b"mp", b"post"]
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"post"


def test_get_head_by_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two!")["VersionId"]
    got = s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)
    assert got["Body"].read() == b"one" and got["VersionId"] == v1
    head = s3.head_object(Bucket=vbucket, Key="k", VersionId=v2)
    assert head["ContentLength"] == 4 and head["VersionId"] == v2
    assert s3.get_object(Bucket=vbucket, Key="k")["VersionId"] == v2
    assert s3.list_objects_v2(Bucket=vbucket)["KeyCount"] == 1
    with s3_error("NoSuchVersion", 404):
        s3.get_object(Bucket=vbucket, Key="k", VersionId="0" * 32)
    with s3_error("InvalidArgument", 400):
        s3.get_object(Bucket=vbucket, Key="k", VersionId="not-a-version")


def test_delete_markers(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    resp = s3.delete_object(Bucket=vbucket, Key="k")
    assert resp["DeleteMarker"] is True
    marker = resp["VersionId"]
    assert VID.match(marker) and marker != v1
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=vbucket, Key="k")
    err = exc.value.response
    assert err["Error"]["Code"] == "NoSuchKey"
    assert err["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert err["ResponseMetadata"]["HTTPHeaders"]["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    assert "Contents" not in s3.list_objects_v2(Bucket=vbucket)
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert versions_of(s3, vbucket) == [("k", marker, True, True), ("k", v1, False, False)]
    # Removing the marker makes the version current again.
    gone = s3.delete_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert gone["DeleteMarker"] is True and gone["VersionId"] == marker
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"one"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket)["Contents"]] == ["k"]


def test_delete_version_promotes_previous(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"two")["VersionId"]
    resp = s3.delete_object(Bucket=vbucket, Key="k", VersionId=v2)
    assert status_of(resp) == 204 and resp["VersionId"] == v2
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"one"
    s3.delete_object(Bucket=vbucket, Key="k", VersionId=v1)
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=vbucket, Key="k")
    assert versions_of(s3, vbucket) == []


def test_null_version_before_enabling_and_suspended(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    enable(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"new")["VersionId"]
    assert versions_of(s3, bucket) == [("k", v1, True, False), ("k", "null", False, False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"old"
    enable(s3, bucket, "Suspended")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"suspended")
    assert "x-amz-version-id" not in headers_of(put)  # as S3: a null version has no id
    # The suspended write replaced the old null version; v1 stays.
    assert versions_of(s3, bucket) == [("k", "null", True, False), ("k", v1, False, False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"suspended"
    resp = s3.delete_object(Bucket=bucket, Key="k")
    assert resp["DeleteMarker"] is True and resp["VersionId"] == "null"
    assert versions_of(s3, bucket) == [("k", "null", True, True), ("k", v1, False, False)]
    purge(s3, bucket)


def test_copy_by_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="src", Body=b"first")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="src", Body=b"second")
    resp = s3.copy_object(
        Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1}
    )
    assert resp["CopySourceVersionId"] == v1
    assert s3.get_object(Bucket=vbucket, Key="dst")["Body"].read() == b"first"
    up = s3.create_multipart_upload(Bucket=vbucket, Key="mp")
    part = s3.upload_part_copy(
        Bucket=vbucket, Key="mp", UploadId=up["UploadId"], PartNumber=1,
        CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1},
    )  # fmt: skip
    s3.complete_multipart_upload(
        Bucket=vbucket, Key="mp", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )  # fmt: skip
    assert s3.get_object(Bucket=vbucket, Key="mp")["Body"].read() == b"first"
    marker = s3.delete_object(Bucket=vbucket, Key="src")["VersionId"]
    with s3_error("NoSuchKey", 404):
        s3.copy_object(Bucket=vbucket, Key="x", CopySource={"Bucket": vbucket, "Key": "src"})
    with s3_error("InvalidRequest", 400):
        s3.copy_object(
            Bucket=vbucket,
            Key="x",
            CopySource={"Bucket": vbucket, "Key": "src", "VersionId": marker},
        )


def test_delete_objects_with_versions(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="a", Body=b"1")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="b", Body=b"2")
    resp = s3.delete_objects(
        Bucket=vbucket, Delete={"Objects": [{"Key": "a", "VersionId": v1}, {"Key": "b"}]}
    )
    deleted = {d["Key"]: d for d in resp["Deleted"]}
    assert deleted["a"]["VersionId"] == v1 and "DeleteMarker" not in deleted["a"]
    assert deleted["b"]["DeleteMarker"] is True
    marker = deleted["b"]["DeleteMarkerVersionId"]
    assert VID.match(marker)
    resp = s3.delete_objects(
        Bucket=vbucket, Delete={"Objects": [{"Key": "b", "VersionId": marker}]}
    )
    assert resp["Deleted"][0]["DeleteMarker"] is True
    assert resp["Deleted"][0]["DeleteMarkerVersionId"] == marker
    assert s3.get_object(Bucket=vbucket, Key="b")["Body"].read() == b"2"
    assert [k for k, *_ in versions_of(s3, vbucket)] == ["b"]


def test_delete_bucket_with_only_versions(s3, bucket):
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k")
    with s3_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=bucket)
    purge(s3, bucket)
    s3.delete_bucket(Bucket=bucket)


def test_list_versions_paging(s3, vbucket):
    expected = []
    for key in ["a", "b/1", "b/2", "c"]:
        vids = [s3.put_object(Bucket=vbucket, Key=key, Body=b"x")["VersionId"] for _ in range(3)]
        expected += [(key, v, i == 0, False) for i, v in enumerate(reversed(vids))]
    marker = s3.delete_object(Bucket=vbucket, Key="c")["VersionId"]
    expected[-3:] = [("c", marker, True, True)] + [(k, v, False, d) for k, v, _, d in expected[-3:]]
    for size in (1, 2, 5, 1000):
        assert versions_of(s3, vbucket, PaginationConfig={"PageSize": size}) == expected
    resp = s3.list_object_versions(Bucket=vbucket, Delimiter="/")
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["b/"]
    assert {v["Key"] for v in resp["Versions"]} == {"a", "c"}
    resp = s3.list_object_versions(Bucket=vbucket, MaxKeys=2)
    assert resp["IsTruncated"] and resp["NextKeyMarker"] == "a"
    assert resp["NextVersionIdMarker"] == expected[1][1]
    resp = s3.list_object_versions(
        Bucket=vbucket, KeyMarker="a", VersionIdMarker=expected[1][1], MaxKeys=1
    )
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in resp["Versions"]] == [
        ("a", expected[2][1], False)
    ]
    with s3_error("InvalidArgument", 400):
        s3.list_object_versions(Bucket=vbucket, VersionIdMarker=expected[1][1])


def test_acl_of_a_version(s3, vbucket):
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="k", Body=b"two")
    s3.put_object_acl(Bucket=vbucket, Key="k", VersionId=v1, ACL="public-read")
    grants = s3.get_object_acl(Bucket=vbucket, Key="k", VersionId=v1)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    current = s3.get_object_acl(Bucket=vbucket, Key="k")["Grants"]
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in current)
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    with s3_error("NoSuchVersion", 404):
        s3.get_object_acl(Bucket=vbucket, Key="k", VersionId="0" * 32)


def test_long_keys(s3, vbucket):
    """Keys past the backend's key size are stored hashed; their versions still list,
    read and delete by id."""
    keys = ["L" * 1024, "L" * 1000 + "x", "L" * 600]
    ids = {k: [s3.put_object(Bucket=vbucket, Key=k, Body=k[-3:].encode())["VersionId"]
               for _ in range(2)] for k in keys}  # fmt: skip
    listed = versions_of(s3, vbucket)
    assert sorted((k, v) for k, v, _, _ in listed) == sorted((k, v) for k in keys for v in ids[k])
    for k in keys:
        assert [v for kk, v, _, _ in listed if kk == k] == ids[k][::-1]
        got = s3.get_object(Bucket=vbucket, Key=k, VersionId=ids[k][0])["Body"].read()
        assert got == k[-3:].encode()
        s3.delete_object(Bucket=vbucket, Key=k, VersionId=ids[k][1])
        assert s3.get_object(Bucket=vbucket, Key=k)["VersionId"] == ids[k][0]


def test_max_keys_zero(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    resp = s3.list_object_versions(Bucket=vbucket, MaxKeys=0)
    assert resp["IsTruncated"] is False and "Versions" not in resp


def test_delete_in_a_bucket_just_deleted(s3):
    """The bucket record a DELETE reads may be cached: a gone bucket is still NoSuchBucket."""
    name = "gone-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with s3_error("NoSuchBucket", 404):
        s3.delete_object(Bucket=name, Key="k")
