"""Range GET: bytes=a-b, a-, -n; 206 + Content-Range; clipping; 416 InvalidRange."""

from __future__ import annotations

import os

import pytest

from tests.conftest import make_client
from tests.integration.helpers import headers_of, quoted_etag, s3_error, status_of

MiB = 1024 * 1024


@pytest.fixture
def small(s3, bucket):
    body = os.urandom(1000)
    s3.put_object(Bucket=bucket, Key="small", Body=body)
    return body


def ranged(s3, bucket, key, spec):
    resp = s3.get_object(Bucket=bucket, Key=key, Range=spec)
    return resp, resp["Body"].read()


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=0-99", 0, 99),
        ("bytes=100-199", 100, 199),
        ("bytes=999-999", 999, 999),
        ("bytes=500-", 500, 999),
        ("bytes=0-", 0, 999),
        ("bytes=-1", 999, 999),
        ("bytes=-100", 900, 999),
        ("bytes=-1000", 0, 999),
    ],
)
def test_range_forms(s3, bucket, small, spec, start, end):
    resp, data = ranged(s3, bucket, "small", spec)
    assert status_of(resp) == 206
    assert data == small[start : end + 1]
    assert resp["ContentRange"] == f"bytes {start}-{end}/1000"
    assert resp["ContentLength"] == end - start + 1
    assert headers_of(resp)["content-length"] == str(end - start + 1)
    assert resp["ETag"] == quoted_etag(small)
    assert headers_of(resp).get("accept-ranges") == "bytes"


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=900-5000", 900, 999),  # end past the end is clipped
        ("bytes=0-1000", 0, 999),
        ("bytes=-5000", 0, 999),  # suffix longer than the object: the whole object
    ],
)
def test_range_clipped(s3, bucket, small, spec, start, end):
    resp, data = ranged(s3, bucket, "small", spec)
    assert status_of(resp) == 206
    assert data == small[start : end + 1]
    assert resp["ContentRange"] == f"bytes {start}-{end}/1000"
    assert resp["ContentLength"] == end - start + 1


@pytest.mark.parametrize("spec", ["bytes=1000-", "bytes=1000-1001", "bytes=5000-6000"])
def test_range_start_beyond_size(s3, bucket, small, spec):
    with s3_error("InvalidRange", 416) as ei:
        s3.get_object(Bucket=bucket, Key="small", Range=spec)
    assert headers_of(ei.value.response).get("content-range") in (None, "bytes */1000")


def test_range_on_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with s3_error("InvalidRange", 416):
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0")


def test_full_get_has_accept_ranges_and_200(s3, bucket, small):
    resp = s3.get_object(Bucket=bucket, Key="small")
    assert status_of(resp) == 200
    assert "ContentRange" not in resp
    assert headers_of(resp).get("accept-ranges") == "bytes"
    assert resp["Body"].read() == small


def test_head_with_range(s3, bucket, small):
    resp = s3.head_object(Bucket=bucket, Key="small", Range="bytes=10-19")
    assert status_of(resp) == 206
    assert resp["ContentLength"] == 10
    assert resp["ContentRange"] == "bytes 10-19/1000"


@pytest.fixture(scope="module")
def big(server):
    """A 9 MiB object in its own bucket, shared by the block-boundary tests."""
    s3 = make_client(server)
    name = f"range-big-{os.urandom(6).hex()}"
    s3.create_bucket(Bucket=name)
    body = os.urandom(9 * MiB)
    s3.put_object(Bucket=name, Key="big", Body=body)
    yield name, body
    s3.delete_object(Bucket=name, Key="big")
    s3.delete_bucket(Bucket=name)


B = 4 * MiB


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (B - 1, B),  # two bytes straddling the first boundary
        (B - 100, B + 99),
        (B, B),  # first byte of the second block
        (B - 1, B - 1),  # last byte of the first block
        (B - 10, 2 * B + 10),  # crosses two boundaries
        (0, 9 * MiB - 1),
        (2 * B - 5, 2 * B + 5),
        (2 * B + 1, 9 * MiB - 1),  # the short tail block
        (12345, 3 * B),  # end beyond the object, clipped
    ],
)
def test_range_across_block_boundaries(s3, big, start, end):
    name, body = big
    size = len(body)
    resp, data = ranged(s3, name, "big", f"bytes={start}-{end}")
    last = min(end, size - 1)
    assert status_of(resp) == 206
    assert resp["ContentRange"] == f"bytes {start}-{last}/{size}"
    assert resp["ContentLength"] == last - start + 1
    assert data == body[start : last + 1]


def test_suffix_range_big(s3, big):
    name, body = big
    resp, data = ranged(s3, name, "big", f"bytes=-{B + 7}")
    assert data == body[-(B + 7) :]
    assert resp["ContentRange"] == f"bytes {len(body) - B - 7}-{len(body) - 1}/{len(body)}"


def test_range_after_shrinking_overwrite(s3, bucket):
    s3.put_object(Bucket=bucket, Key="shrink", Body=os.urandom(5 * MiB))
    s3.put_object(Bucket=bucket, Key="shrink", Body=b"0123456789")
    resp, data = ranged(s3, bucket, "shrink", "bytes=2-5")
    assert data == b"2345"
    assert resp["ContentRange"] == "bytes 2-5/10"
    with s3_error("InvalidRange", 416):
        s3.get_object(Bucket=bucket, Key="shrink", Range=f"bytes={4 * MiB}-{4 * MiB + 10}")
