"""ListObjects (v1) and ListObjectsV2: prefixes, delimiters, pagination, encoding, owner."""

from __future__ import annotations

import os
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

import pytest

from tests.conftest import make_client
from tests.integration.helpers import (
    parse_xml,
    raw_signed,
    status_of,
)

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"

# 1,500 keys: 1,000 under data/NN/, 300 directly under data/, 200 under other/.
NESTED = [f"data/{g:02d}/obj-{i:04d}" for g in range(10) for i in range(100)]
TOP = [f"data/top-{i:04d}" for i in range(300)]
OTHER = [f"other/{i:04d}" for i in range(200)]
ALL_KEYS = sorted(NESTED + TOP + OTHER)
assert len(ALL_KEYS) == 1500


@pytest.fixture(scope="module")
def big_bucket(server):
    """A read-only bucket with 1,500 keys, shared by this module's pagination tests."""
    s3 = make_client(server)
    name = f"list-{os.urandom(6).hex()}"
    s3.create_bucket(Bucket=name)
    local = threading.local()

    def put(key: str) -> None:
        if not hasattr(local, "client"):
            local.client = make_client(server)
        local.client.put_object(Bucket=name, Key=key, Body=key.encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, ALL_KEYS))
    # Left in place on purpose: the session server's data directory is temporary, and
    # deleting 1,500 keys would cost more time than everything that uses them.
    yield name


def collect(pages):
    keys: list[str] = []
    prefixes: list[str] = []
    for page in pages:
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return keys, prefixes


# --- pagination over 1,500 keys -------------------------------------------------------------


def test_v2_paginator_page_size_100(s3, big_bucket):
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=big_bucket, PaginationConfig={"PageSize": 100}
        )
    )
    assert len(pages) == 15
    for page in pages:
        assert len(page["Contents"]) == page["KeyCount"] == 100
        assert page["MaxKeys"] == 100
    assert all(p["IsTruncated"] for p in pages[:-1])
    assert not pages[-1]["IsTruncated"]
    assert "NextContinuationToken" not in pages[-1]
    keys, _ = collect(pages)
    assert keys == ALL_KEYS


def test_v2_paginator_default_page_size(s3, big_bucket):
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=big_bucket))
    assert [p["KeyCount"] for p in pages] == [1000, 500]
    assert pages[0]["IsTruncated"] and pages[0]["NextContinuationToken"]
    keys, _ = collect(pages)
    assert keys == ALL_KEYS


@pytest.mark.parametrize("page_size", [100, None])
def test_v2_paginator_prefix_delimiter(s3, big_bucket, page_size):
    config = {"PageSize": page_size} if page_size else {}
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=big_bucket, Prefix="data/", Delimiter="/", PaginationConfig=config
        )
    )
    keys, prefixes = collect(pages)
    assert keys == TOP
    assert prefixes == [f"data/{g:02d}/" for g in range(10)]
    for page in pages:
        n = len(page.get("Contents", [])) + len(page.get("CommonPrefixes", []))
        assert page["KeyCount"] == n
        assert n <= (page_size or 1000)
        assert page["Prefix"] == "data/"
        assert page["Delimiter"] == "/"
    if page_size:
        assert len(pages) == 4  # 310 entries, 100 a page


def test_v2_paginator_nested_prefix(s3, big_bucket):
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=big_bucket, Prefix="data/03/", PaginationConfig={"PageSize": 30}
    )
    keys, prefixes = collect(pages)
    assert keys == [k for k in ALL_KEYS if k.startswith("data/03/")]
    assert prefixes == []


def test_v2_top_level_delimiter(s3, big_bucket):
    resp = s3.list_objects_v2(Bucket=big_bucket, Delimiter="/")
    assert "Contents" not in resp
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["data/", "other/"]
    assert resp["KeyCount"] == 2
    assert resp["IsTruncated"] is False


@pytest.mark.parametrize("page_size", [100, None])
def test_v1_paginator_all_keys(s3, big_bucket, page_size):
    config = {"PageSize": page_size} if page_size else {}
    pages = list(
        s3.get_paginator("list_objects").paginate(Bucket=big_bucket, PaginationConfig=config)
    )
    keys, _ = collect(pages)
    assert keys == ALL_KEYS
    assert len(pages) == (15 if page_size else 2)


@pytest.mark.parametrize("page_size", [100, 7, None])
def test_v1_paginator_prefix_delimiter(s3, big_bucket, page_size):
    config = {"PageSize": page_size} if page_size else {}
    pages = list(
        s3.get_paginator("list_objects").paginate(
            Bucket=big_bucket, Prefix="data/", Delimiter="/", PaginationConfig=config
        )
    )
    keys, prefixes = collect(pages)
    assert keys == TOP
    assert prefixes == [f"data/{g:02d}/" for g in range(10)]


def test_v1_next_marker_with_delimiter(s3, big_bucket):
    # The first 10 entries of data/ with delimiter are the 10 common prefixes.
    resp = s3.list_objects(Bucket=big_bucket, Prefix="data/", Delimiter="/", MaxKeys=10)
    assert resp["IsTruncated"] is True
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == [f"data/{g:02d}/" for g in range(10)]
    assert "Contents" not in resp
    assert resp["NextMarker"] == "data/09/"
    nxt = s3.list_objects(
        Bucket=big_bucket, Prefix="data/", Delimiter="/", MaxKeys=5, Marker=resp["NextMarker"]
    )
    assert nxt["Marker"] == "data/09/"
    assert [o["Key"] for o in nxt["Contents"]] == TOP[:5]
    assert nxt["NextMarker"] == TOP[4]
    assert nxt["IsTruncated"] is True


def test_v1_marker(s3, big_bucket):
    resp = s3.list_objects(Bucket=big_bucket, Marker="data/09/obj-0097", MaxKeys=4)
    assert [o["Key"] for o in resp["Contents"]] == [
        "data/09/obj-0098",
        "data/09/obj-0099",
        "data/top-0000",
        "data/top-0001",
    ]
    assert resp["IsTruncated"] is True
    assert resp["MaxKeys"] == 4
    # A marker that is not itself a key works too.
    resp = s3.list_objects(Bucket=big_bucket, Marker="other/0198x", MaxKeys=4)
    assert [o["Key"] for o in resp["Contents"]] == ["other/0199"]
    assert resp["IsTruncated"] is False


@pytest.mark.parametrize("op", ["list_objects_v2", "list_objects"])
def test_max_keys_capped_at_1000(s3, big_bucket, op):
    resp = getattr(s3, op)(Bucket=big_bucket, MaxKeys=5000)
    assert len(resp["Contents"]) == 1000
    assert resp["IsTruncated"] is True
    assert [o["Key"] for o in resp["Contents"]] == ALL_KEYS[:1000]


def test_v2_start_after(s3, big_bucket):
    resp = s3.list_objects_v2(Bucket=big_bucket, StartAfter="data/top-0298", MaxKeys=3)
    assert [o["Key"] for o in resp["Contents"]] == ["data/top-0299", "other/0000", "other/0001"]
    assert resp["StartAfter"] == "data/top-0298"
    assert resp["IsTruncated"] is True
    # StartAfter past every key.
    resp = s3.list_objects_v2(Bucket=big_bucket, StartAfter="zzz")
    assert resp["KeyCount"] == 0
    assert "Contents" not in resp
    assert resp["IsTruncated"] is False


def test_v2_continuation_token_manual(s3, big_bucket):
    seen: list[str] = []
    token = None
    calls = 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        resp = s3.list_objects_v2(Bucket=big_bucket, Prefix="other/", MaxKeys=37, **kw)
        calls += 1
        if token:
            assert resp["ContinuationToken"] == token
        seen += [o["Key"] for o in resp.get("Contents", [])]
        assert resp["KeyCount"] == len(resp.get("Contents", []))
        if not resp["IsTruncated"]:
            assert "NextContinuationToken" not in resp
            break
        token = resp["NextContinuationToken"]
    assert seen == OTHER
    assert calls == 6  # ceil(200 / 37)


def test_v2_continuation_token_with_start_after(s3, big_bucket):
    # StartAfter is ignored once a continuation token is given; the token wins.
    first = s3.list_objects_v2(Bucket=big_bucket, StartAfter="other/0100", MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == ["other/0101", "other/0102"]
    second = s3.list_objects_v2(
        Bucket=big_bucket,
        StartAfter="other/0100",
        ContinuationToken=first["NextContinuationToken"],
        MaxKeys=2,
    )
    assert [o["Key"] for o in second["Contents"]] == ["other/0103", "other/0104"]


# --- small buckets ------------------------------------------------------------------


def put_keys(s3, bucket, keys):
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")


def test_v2_fetch_owner(s3, bucket):
    put_keys(s3, bucket, ["a", "b"])
    without = s3.list_objects_v2(Bucket=bucket)
    assert all("Owner" not in o for o in without["Contents"])
    with_owner = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    for o in with_owner["Contents"]:
        assert o["Owner"].get("ID")
    # v1 always includes the owner.
    v1 = s3.list_objects(Bucket=bucket)
    assert all(o["Owner"].get("ID") for o in v1["Contents"])


def test_listing_entry_fields(s3, bucket):
    s3.put_object(Bucket=bucket, Key="f", Body=b"12345")
    resp = s3.list_objects_v2(Bucket=bucket)
    assert resp["Name"] == bucket
    assert resp["KeyCount"] == 1
    assert resp["MaxKeys"] == 1000
    assert resp["IsTruncated"] is False
    (entry,) = resp["Contents"]
    assert entry["Key"] == "f"
    assert entry["Size"] == 5
    assert entry["ETag"] == '"827ccb0eea8a706c4c34a16891f84e7b"'
    assert entry["StorageClass"] == "STANDARD"


def test_empty_bucket_listing(s3, bucket):
    resp = s3.list_objects_v2(Bucket=bucket)
    assert status_of(resp) == 200
    assert resp["KeyCount"] == 0
    assert "Contents" not in resp
    assert resp["IsTruncated"] is False
    v1 = s3.list_objects(Bucket=bucket)
    assert "Contents" not in v1
    assert v1["IsTruncated"] is False


def test_prefix_without_match(s3, bucket):
    put_keys(s3, bucket, ["a/1", "b/1"])
    resp = s3.list_objects_v2(Bucket=bucket, Prefix="c")
    assert resp["KeyCount"] == 0
    assert "Contents" not in resp
    assert resp["Prefix"] == "c"


def test_common_prefixes_and_contents_mixed(s3, bucket):
    keys = ["a", "a/b", "a/c/d", "a/c/e", "ab", "b/", "b/x", "c"]
    put_keys(s3, bucket, keys)
    resp = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in resp["Contents"]] == ["a", "ab", "c"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["a/", "b/"]
    assert resp["KeyCount"] == 5
    resp = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in resp["Contents"]] == ["a/b"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["a/c/"]
    resp = s3.list_objects_v2(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in resp["Contents"]] == ["b/", "b/x"]
    # A multi-character, non-slash delimiter.
    resp = s3.list_objects_v2(Bucket=bucket, Delimiter="c/")
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["a/c/"]
    assert [o["Key"] for o in resp["Contents"]] == ["a", "a/b", "ab", "b/", "b/x", "c"]


def test_common_prefixes_paginate_with_small_pages(s3, bucket):
    keys = [f"p{i}/k{j}" for i in range(5) for j in range(3)] + ["z0", "z1"]
    put_keys(s3, bucket, keys)
    for op in ("list_objects_v2", "list_objects"):
        pages = list(
            s3.get_paginator(op).paginate(
                Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
            )
        )
        got_keys, prefixes = collect(pages)
        assert prefixes == [f"p{i}/" for i in range(5)], op
        assert got_keys == ["z0", "z1"], op
        assert len(pages) == 4, op


SPECIAL = [
    "plus+sign",
    "space key",
    "percent%25encoded",
    "percent%",
    "amp&eq=q?h#",
    "ü/日本/€",
    "tab\tkey",
    "ctrl\x01char",
    "lt<gt>amp&",
    "/leading",
    "a//b",
    "trailing/",
]


def test_special_keys_listing_round_trip(s3, bucket):
    put_keys(s3, bucket, SPECIAL)
    expected = sorted(SPECIAL, key=lambda k: k.encode())
    # boto3 asks for EncodingType=url on its own and decodes the keys.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == expected
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == expected
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}
    )
    assert collect(pages)[0] == expected
    pages = s3.get_paginator("list_objects").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}
    )
    assert collect(pages)[0] == expected
    # Special characters in the prefix and start-after too.
    resp = s3.list_objects_v2(Bucket=bucket, Prefix="percent%", StartAfter="percent%")
    assert [o["Key"] for o in resp["Contents"]] == ["percent%25encoded"]
    resp = s3.list_objects_v2(Bucket=bucket, Prefix="ü/", Delimiter="/")
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["ü/日本/"]


def model_listing(keys, prefix="", delimiter=""):
    """What S3 returns for a prefix/delimiter listing: (contents, common prefixes)."""
    contents: list[str] = []
    prefixes: list[str] = []
    for key in sorted(keys, key=lambda k: k.encode()):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if delimiter and delimiter in rest:
            cp = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if cp not in prefixes:
                prefixes.append(cp)
        else:
            contents.append(key)
    return contents, prefixes


SPECIAL_TREE = SPECIAL + [
    "plus+dir/a",
    "plus+dir/b+c",
    "space dir/x",
    "space dir/y z",
    "ü/日本/€/deeper",
    "pct%2Fdir/k",
    "amp&dir/k",
]


@pytest.mark.parametrize("op", ["list_objects_v2", "list_objects"])
@pytest.mark.parametrize("prefix", ["", "plus+", "space ", "ü/", "pct%2F"])
def test_special_keys_with_delimiter_paginated(s3, bucket, op, prefix):
    put_keys(s3, bucket, SPECIAL_TREE)
    want_keys, want_prefixes = model_listing(SPECIAL_TREE, prefix, "/")
    pages = list(
        s3.get_paginator(op).paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/", PaginationConfig={"PageSize": 1}
        )
    )
    got_keys, got_prefixes = collect(pages)
    assert got_keys == want_keys
    assert got_prefixes == want_prefixes
    for page in pages:
        echoed = page.get("Prefix", "")
        if op == "list_objects":
            # AWS url-encodes the v1 Prefix too, but botocore does not decode it there.
            echoed = unquote_plus(echoed)
        assert echoed == prefix
        assert page["Delimiter"] == "/"


def test_explicit_encoding_type_url(s3, bucket):
    put_keys(s3, bucket, SPECIAL)
    expected = sorted(SPECIAL, key=lambda k: k.encode())
    # Asked explicitly, boto3 leaves decoding to the caller.
    resp = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert resp["EncodingType"] == "url"
    raw_keys = [o["Key"] for o in resp["Contents"]]
    assert [unquote_plus(k) for k in raw_keys] == expected
    for k in raw_keys:
        assert all(ord(c) < 128 for c in k), k
    v1 = s3.list_objects(Bucket=bucket, EncodingType="url")
    assert [unquote_plus(o["Key"]) for o in v1["Contents"]] == expected


def test_listing_without_encoding_type_raw_xml(server, s3, bucket):
    put_keys(s3, bucket, ["plain", "ü/x", "a&b<c"])
    resp = raw_signed(server, "GET", bucket, params={"list-type": "2"})
    assert resp.status_code == 200
    assert ET.fromstring(resp.content).tag == f"{{{S3_NS}}}ListBucketResult"
    root = parse_xml(resp.content)
    assert root.tag == "ListBucketResult"
    assert root.find("EncodingType") is None
    assert [c.findtext("Key") for c in root.findall("Contents")] == ["a&b<c", "plain", "ü/x"]
    assert root.findtext("KeyCount") == "3"

    enc = raw_signed(server, "GET", bucket, params={"list-type": "2", "encoding-type": "url"})
    root = parse_xml(enc.content)
    assert root.findtext("EncodingType") == "url"
    keys = [c.findtext("Key") or "" for c in root.findall("Contents")]
    assert [unquote_plus(k) for k in keys] == ["a&b<c", "plain", "ü/x"]
