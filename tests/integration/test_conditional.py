"""Conditional requests: If-Match, If-None-Match, If-(Un)Modified-Since on GET/HEAD; PUT."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.helpers import get_bytes, object_absent, quoted_etag, s3_error, status_of

BODY = b"conditional body"
WRONG_ETAG = '"0123456789abcdef0123456789abcdef"'


@pytest.fixture
def obj(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="c", Body=BODY)
    head = s3.head_object(Bucket=bucket, Key="c")
    return put["ETag"], head["LastModified"]


def expect_status(call, status: int) -> ClientError:
    with pytest.raises(ClientError) as ei:
        call()
    assert status_of(ei.value.response) == status, ei.value.response
    return ei.value


# --- If-Match ----------------------------------------------------------------------------


def test_get_if_match_ok(s3, bucket, obj):
    etag, _ = obj
    resp = s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)
    assert status_of(resp) == 200
    assert resp["Body"].read() == BODY


def test_get_if_match_mismatch(s3, bucket, obj):
    with s3_error("PreconditionFailed", 412):
        s3.get_object(Bucket=bucket, Key="c", IfMatch=WRONG_ETAG)


def test_head_if_match(s3, bucket, obj):
    etag, _ = obj
    assert status_of(s3.head_object(Bucket=bucket, Key="c", IfMatch=etag)) == 200
    expect_status(lambda: s3.head_object(Bucket=bucket, Key="c", IfMatch=WRONG_ETAG), 412)


# --- If-None-Match ------------------------------------------------------------------------


def test_get_if_none_match_match_is_304(s3, bucket, obj):
    etag, _ = obj
    exc = expect_status(lambda: s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag), 304)
    headers = exc.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("etag") == etag


def test_raw_304_has_no_body(server, bucket, obj):
    etag, lm = obj
    url = make_client(server, signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "c"}, ExpiresIn=300
    )
    resp = httpx.get(url, headers={"If-None-Match": etag})
    assert resp.status_code == 304
    assert resp.content == b""
    assert resp.headers.get("etag") == etag
    resp = httpx.get(url, headers={"If-Modified-Since": lm.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    assert resp.status_code == 304
    assert resp.content == b""
    resp = httpx.get(url, headers={"If-Match": WRONG_ETAG})
    assert resp.status_code == 412
    assert b"<Code>PreconditionFailed</Code>" in resp.content


def test_get_if_none_match_other_is_200(s3, bucket, obj):
    resp = s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=WRONG_ETAG)
    assert status_of(resp) == 200
    assert resp["Body"].read() == BODY


def test_head_if_none_match(s3, bucket, obj):
    etag, _ = obj
    expect_status(lambda: s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag), 304)
    assert status_of(s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=WRONG_ETAG)) == 200


# --- If-Modified-Since ------------------------------------------------------------------


def test_get_if_modified_since_not_modified_is_304(s3, bucket, obj):
    _, lm = obj
    expect_status(lambda: s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=lm), 304)


def test_get_if_modified_since_modified_is_200(s3, bucket, obj):
    _, lm = obj
    resp = s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=lm - timedelta(days=1))
    assert status_of(resp) == 200
    assert resp["Body"].read() == BODY


def test_head_if_modified_since(s3, bucket, obj):
    _, lm = obj
    expect_status(lambda: s3.head_object(Bucket=bucket, Key="c", IfModifiedSince=lm), 304)
    resp = s3.head_object(Bucket=bucket, Key="c", IfModifiedSince=lm - timedelta(hours=1))
    assert status_of(resp) == 200


# --- If-Unmodified-Since ----------------------------------------------------------------


def test_get_if_unmodified_since_modified_after_is_412(s3, bucket, obj):
    _, lm = obj
    with s3_error("PreconditionFailed", 412):
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=lm - timedelta(days=1))


def test_get_if_unmodified_since_ok(s3, bucket, obj):
    _, lm = obj
    resp = s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=lm)
    assert status_of(resp) == 200
    assert resp["Body"].read() == BODY


def test_head_if_unmodified_since(s3, bucket, obj):
    _, lm = obj
    expect_status(
        lambda: s3.head_object(Bucket=bucket, Key="c", IfUnmodifiedSince=lm - timedelta(days=1)),
        412,
    )
    assert status_of(s3.head_object(Bucket=bucket, Key="c", IfUnmodifiedSince=lm)) == 200


# --- combinations AWS documents -----------------------------------------------------


def test_if_match_true_wins_over_if_unmodified_since_false(s3, bucket, obj):
    etag, lm = obj
    past = lm - timedelta(days=1)
    resp = s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=past)
    assert status_of(resp) == 200
    assert resp["Body"].read() == BODY
    head = s3.head_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=past)
    assert status_of(head) == 200


def test_if_none_match_false_with_if_modified_since_true_is_304(s3, bucket, obj):
    etag, lm = obj
    past = lm - timedelta(days=1)
    expect_status(
        lambda: s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag, IfModifiedSince=past),
        304,
    )
    expect_status(
        lambda: s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag, IfModifiedSince=past),
        304,
    )


# --- conditional PUT --------------------------------------------------------------------


def test_put_if_none_match_star_existing_is_412(s3, bucket, obj):
    etag, _ = obj
    with s3_error("PreconditionFailed", 412):
        s3.put_object(Bucket=bucket, Key="c", Body=b"clobber", IfNoneMatch="*")
    assert get_bytes(s3, bucket, "c") == BODY
    assert s3.head_object(Bucket=bucket, Key="c")["ETag"] == etag


def test_put_if_none_match_star_new_key(s3, bucket):
    resp = s3.put_object(Bucket=bucket, Key="fresh", Body=b"new", IfNoneMatch="*")
    assert status_of(resp) == 200
    assert resp["ETag"] == quoted_etag(b"new")
    assert get_bytes(s3, bucket, "fresh") == b"new"


def test_put_if_match_right_etag(s3, bucket, obj):
    etag, _ = obj
    resp = s3.put_object(Bucket=bucket, Key="c", Body=b"updated", IfMatch=etag)
    assert status_of(resp) == 200
    assert get_bytes(s3, bucket, "c") == b"updated"


def test_put_if_match_wrong_etag(s3, bucket, obj):
    etag, _ = obj
    with s3_error("PreconditionFailed", 412):
        s3.put_object(Bucket=bucket, Key="c", Body=b"updated", IfMatch=WRONG_ETAG)
    assert get_bytes(s3, bucket, "c") == BODY
    assert s3.head_object(Bucket=bucket, Key="c")["ETag"] == etag


def test_put_if_match_after_overwrite_uses_new_etag(s3, bucket, obj):
    old_etag, _ = obj
    s3.put_object(Bucket=bucket, Key="c", Body=b"second")
    with s3_error("PreconditionFailed", 412):
        s3.put_object(Bucket=bucket, Key="c", Body=b"third", IfMatch=old_etag)
    assert get_bytes(s3, bucket, "c") == b"second"
    s3.put_object(Bucket=bucket, Key="c", Body=b"third", IfMatch=quoted_etag(b"second"))
    assert get_bytes(s3, bucket, "c") == b"third"


def test_concurrent_if_none_match_exactly_one_wins(server, bucket):
    from concurrent.futures import ThreadPoolExecutor

    bodies = [f"writer-{i}".encode() * 1000 for i in range(8)]

    def attempt(body: bytes) -> int:
        client = make_client(server)
        try:
            resp = client.put_object(Bucket=bucket, Key="race", Body=body, IfNoneMatch="*")
            return status_of(resp)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            # AWS answers a losing concurrent conditional write with 412, or 409 mid-race.
            assert code in ("PreconditionFailed", "ConditionalRequestConflict"), code
            return status_of(exc.response)

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(attempt, bodies))
    assert statuses.count(200) == 1, statuses
    winner = bodies[statuses.index(200)]
    s3 = make_client(server)
    assert get_bytes(s3, bucket, "race") == winner
    assert s3.head_object(Bucket=bucket, Key="race")["ETag"] == quoted_etag(winner)


def test_put_if_none_match_etag(s3, bucket, obj):
    """If-None-Match with an ETag refuses to overwrite that version (412), and writes
    over any other; on a missing key it always writes."""
    etag, _ = obj
    with s3_error("PreconditionFailed", 412):
        s3.put_object(Bucket=bucket, Key="c", Body=b"clobber", IfNoneMatch=etag)
    assert get_bytes(s3, bucket, "c") == BODY
    assert (
        status_of(s3.put_object(Bucket=bucket, Key="c", Body=b"v2", IfNoneMatch=WRONG_ETAG)) == 200
    )
    assert get_bytes(s3, bucket, "c") == b"v2"
    assert status_of(s3.put_object(Bucket=bucket, Key="new", Body=b"n", IfNoneMatch=etag)) == 200


def test_put_if_match_missing_key_is_no_such_key(s3, bucket):
    """If-Match on a key that does not exist: 404 NoSuchKey (with * or an ETag), and
    nothing is written."""
    for value in ("*", WRONG_ETAG):
        with s3_error("NoSuchKey", 404):
            s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=value)
    assert object_absent(s3, bucket, "absent")
    s3.put_object(Bucket=bucket, Key="absent", Body=b"x")
    assert status_of(s3.put_object(Bucket=bucket, Key="absent", Body=b"y", IfMatch="*")) == 200
