"""ListObjectVersions on an unversioned bucket: every object once, VersionId "null"."""

from __future__ import annotations

from tests.integration.helpers import quoted_etag, status_of

KEYS = sorted([f"v/{i:03d}" for i in range(25)] + ["a", "b/c", "ü"], key=lambda k: k.encode())


def fill(s3, bucket):
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())


def test_versions_of_unversioned_bucket(s3, bucket):
    fill(s3, bucket)
    resp = s3.list_object_versions(Bucket=bucket)
    assert status_of(resp) == 200
    assert resp["IsTruncated"] is False
    assert "DeleteMarkers" not in resp
    versions = resp["Versions"]
    assert [v["Key"] for v in versions] == KEYS
    for v in versions:
        assert v["VersionId"] == "null"
        assert v["IsLatest"] is True
        assert v["ETag"] == quoted_etag(v["Key"].encode())
        assert v["Size"] == len(v["Key"].encode())
        assert v["LastModified"].utcoffset().total_seconds() == 0


def test_versions_after_overwrite_and_delete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="gone")
    resp = s3.list_object_versions(Bucket=bucket)
    # Unversioned: an overwrite replaces the only version; a delete leaves no marker.
    assert [(v["Key"], v["VersionId"], v["ETag"]) for v in resp["Versions"]] == [
        ("k", "null", quoted_etag(b"two"))
    ]
    assert "DeleteMarkers" not in resp


def test_versions_pagination_with_key_marker(s3, bucket):
    fill(s3, bucket)
    seen: list[str] = []
    kw: dict[str, str] = {}
    pages = 0
    while True:
        resp = s3.list_object_versions(Bucket=bucket, MaxKeys=4, **kw)
        pages += 1
        page_keys = [v["Key"] for v in resp.get("Versions", [])]
        assert len(page_keys) <= 4
        assert all(v["VersionId"] == "null" for v in resp.get("Versions", []))
        seen += page_keys
        if not resp["IsTruncated"]:
            break
        assert resp["NextKeyMarker"] == page_keys[-1]
        kw = {"KeyMarker": resp["NextKeyMarker"]}
        if "NextVersionIdMarker" in resp:
            assert resp["NextVersionIdMarker"] == "null"
            kw["VersionIdMarker"] = resp["NextVersionIdMarker"]
    assert seen == KEYS
    assert pages == 7  # 28 keys, 4 a page


def test_versions_key_marker_only(s3, bucket):
    fill(s3, bucket)
    resp = s3.list_object_versions(Bucket=bucket, KeyMarker="v/020")
    assert resp["KeyMarker"] == "v/020"
    assert [v["Key"] for v in resp["Versions"]] == [k for k in KEYS if k.encode() > b"v/020"]


def test_versions_paginator(s3, bucket):
    fill(s3, bucket)
    keys = [
        v["Key"]
        for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 5}
        )
        for v in page.get("Versions", [])
    ]
    assert keys == KEYS


def test_versions_prefix_delimiter(s3, bucket):
    fill(s3, bucket)
    resp = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in resp["Versions"]] == ["a", "ü"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["b/", "v/"]
    resp = s3.list_object_versions(Bucket=bucket, Prefix="v/01")
    assert [v["Key"] for v in resp["Versions"]] == [f"v/{i:03d}" for i in range(10, 20)]
    assert resp["Prefix"] == "v/01"


SPECIAL = ["plus+a/b", "plus+a/c+d", "space x/y z", "ü/日本/€", "pct%2F/k", "amp&<>/k", "top+"]


def test_versions_special_keys_paginated(s3, bucket):
    for key in SPECIAL:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    expected = sorted(SPECIAL, key=lambda k: k.encode())
    pages = list(
        s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 1}
        )
    )
    assert [v["Key"] for p in pages for v in p.get("Versions", [])] == expected
    resp = s3.list_object_versions(Bucket=bucket, Prefix="plus+a/", KeyMarker="plus+a/b")
    assert resp["Prefix"] == "plus+a/"
    assert resp["KeyMarker"] == "plus+a/b"
    assert [v["Key"] for v in resp["Versions"]] == ["plus+a/c+d"]
    resp = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == [
        "amp&<>/",
        "pct%2F/",
        "plus+a/",
        "space x/",
        "ü/",
    ]
    assert [v["Key"] for v in resp["Versions"]] == ["top+"]
