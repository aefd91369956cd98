"""Object API: PutObject, GetObject, HeadObject, DeleteObject; metadata, ETags, sizes, keys."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.helpers import (
    get_bytes,
    headers_of,
    md5_b64,
    object_absent,
    quoted_etag,
    raw_signed,
    s3_error,
    status_of,
)

KiB = 1024
MiB = 1024 * KiB


def test_put_get_head_delete(s3, bucket):
    body = b"hello, cairn"
    put = s3.put_object(Bucket=bucket, Key="greeting.txt", Body=body)
    assert status_of(put) == 200
    assert put["ETag"] == quoted_etag(body)

    got = s3.get_object(Bucket=bucket, Key="greeting.txt")
    assert status_of(got) == 200
    assert got["Body"].read() == body
    assert got["ContentLength"] == len(body)
    assert got["ETag"] == quoted_etag(body)
    assert headers_of(got)["content-length"] == str(len(body))

    head = s3.head_object(Bucket=bucket, Key="greeting.txt")
    assert status_of(head) == 200
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == quoted_etag(body)

    dele = s3.delete_object(Bucket=bucket, Key="greeting.txt")
    assert status_of(dele) == 204
    assert object_absent(s3, bucket, "greeting.txt")
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="greeting.txt")


def test_head_missing_key_is_404(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="nope")
    assert status_of(ei.value.response) == 404
    assert ei.value.response["Error"]["Code"] in ("404", "NoSuchKey")


def test_system_and_user_metadata_round_trip(s3, bucket):
    expires = datetime(2037, 1, 1, tzinfo=UTC)
    s3.put_object(
        Bucket=bucket,
        Key="meta",
        Body=b"{}",
        ContentType="application/json; charset=utf-8",
        ContentEncoding="gzip",
        ContentDisposition='attachment; filename="x.json"',
        ContentLanguage="de-DE",
        CacheControl="max-age=3600, public",
        Expires=expires,
        Metadata={"color": "blue", "Mixed-Case": "Value With Spaces", "empty": ""},
    )
    for resp in (
        s3.get_object(Bucket=bucket, Key="meta"),
        s3.head_object(Bucket=bucket, Key="meta"),
    ):
        assert resp["ContentType"] == "application/json; charset=utf-8"
        assert resp["ContentEncoding"] == "gzip"
        assert resp["ContentDisposition"] == 'attachment; filename="x.json"'
        assert resp["ContentLanguage"] == "de-DE"
        assert resp["CacheControl"] == "max-age=3600, public"
        hdrs = headers_of(resp)
        assert parsedate_to_datetime(hdrs["expires"]) == expires
        # User metadata names come back lower-cased, values verbatim.
        assert resp["Metadata"] == {
            "color": "blue",
            "mixed-case": "Value With Spaces",
            "empty": "",
        }
        assert hdrs["x-amz-meta-color"] == "blue"


def test_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="plain")
    # botocore sends no Content-Type; S3 stores binary/octet-stream.
    assert head["ContentType"] in ("binary/octet-stream", "application/octet-stream")
    assert head["Metadata"] == {}


def test_etag_is_md5_of_body(s3, bucket):
    for body in (b"", b"a", os.urandom(5000)):
        put = s3.put_object(Bucket=bucket, Key="e", Body=body)
        assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        assert s3.head_object(Bucket=bucket, Key="e")["ETag"] == put["ETag"]


def test_content_md5_correct_is_accepted(s3, bucket):
    body = os.urandom(1000)
    put = s3.put_object(Bucket=bucket, Key="md5ok", Body=body, ContentMD5=md5_b64(body))
    assert status_of(put) == 200
    assert get_bytes(s3, bucket, "md5ok") == body


def test_content_md5_mismatch_new_key(s3, bucket):
    body = b"the real body"
    with s3_error("BadDigest", 400):
        s3.put_object(Bucket=bucket, Key="md5bad", Body=body, ContentMD5=md5_b64(b"other"))
    assert object_absent(s3, bucket, "md5bad")


def test_content_md5_mismatch_existing_key_unchanged(s3, bucket):
    s3.put_object(Bucket=bucket, Key="md5keep", Body=b"original")
    with s3_error("BadDigest", 400):
        s3.put_object(
            Bucket=bucket, Key="md5keep", Body=b"replacement", ContentMD5=md5_b64(b"nope")
        )
    assert get_bytes(s3, bucket, "md5keep") == b"original"
    assert s3.head_object(Bucket=bucket, Key="md5keep")["ETag"] == quoted_etag(b"original")


def test_content_md5_mismatch_large_body(s3, bucket):
    s3.put_object(Bucket=bucket, Key="md5big", Body=b"original")
    body = os.urandom(9 * MiB)
    wrong = md5_b64(body[:-1])
    for key in ("md5big", "md5big-new"):
        with s3_error("BadDigest", 400):
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=wrong)
    assert get_bytes(s3, bucket, "md5big") == b"original"
    assert object_absent(s3, bucket, "md5big-new")


def test_zero_byte_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["ContentLength"] == 0
    assert got["Body"].read() == b""
    head = s3.head_object(Bucket=bucket, Key="empty")
    assert head["ContentLength"] == 0
    assert head["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("empty", 0)]


def test_delete_missing_key_is_204(s3, bucket):
    resp = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert status_of(resp) == 204


def test_overwrite_returns_new_bytes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ow", Body=b"first version", ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="ow", Body=b"second", Metadata={"v": "2"})
    got = s3.get_object(Bucket=bucket, Key="ow")
    assert got["Body"].read() == b"second"
    assert got["ContentLength"] == 6
    assert got["ETag"] == quoted_etag(b"second")
    # The overwrite replaces metadata entirely.
    assert got["Metadata"] == {"v": "2"}
    assert got["ContentType"] != "text/plain"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("ow", 6)]


SIZES = [
    0,
    1,
    4095,
    4096,
    100 * KiB,
    1 * MiB,
    4 * MiB - 1,
    4 * MiB,
    4 * MiB + 1,
    9 * MiB,
    33 * MiB,
]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_sizes(s3, bucket, size):
    body = os.urandom(size)
    key = f"size-{size}"
    put = s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert put["ETag"] == quoted_etag(body)
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["ContentLength"] == size
    data = got["Body"].read()
    assert len(data) == size
    assert hashlib.md5(data).hexdigest() == hashlib.md5(body).hexdigest()
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == size


def test_last_modified_utc_and_consistent(s3, bucket):
    before = datetime.now(UTC)
    put = s3.put_object(Bucket=bucket, Key="lm", Body=b"when")
    after = datetime.now(UTC)
    head = s3.head_object(Bucket=bucket, Key="lm")
    got = s3.get_object(Bucket=bucket, Key="lm")
    got["Body"].read()
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    v1 = s3.list_objects(Bucket=bucket)["Contents"][0]

    raw = headers_of(head)["last-modified"]
    assert raw.endswith(" GMT"), raw
    for lm in (head["LastModified"], got["LastModified"], listed["LastModified"]):
        assert lm.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=2) <= lm <= after + timedelta(seconds=2), (lm, before)
    assert head["LastModified"] == got["LastModified"]
    assert listed["LastModified"].replace(microsecond=0) == head["LastModified"]
    assert v1["LastModified"].replace(microsecond=0) == head["LastModified"]
    assert head["ETag"] == got["ETag"] == listed["ETag"] == v1["ETag"] == put["ETag"]
    assert listed["Size"] == 4


def test_no_version_id_header_on_unversioned_bucket(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="nv", Body=b"x")
    got = s3.get_object(Bucket=bucket, Key="nv")
    got["Body"].read()
    head = s3.head_object(Bucket=bucket, Key="nv")
    dele = s3.delete_object(Bucket=bucket, Key="nv")
    for resp in (put, got, head, dele):
        assert "x-amz-version-id" not in headers_of(resp), headers_of(resp)
        assert "VersionId" not in resp


def test_version_id_null_accepted(s3, bucket):
    s3.put_object(Bucket=bucket, Key="vn", Body=b"null version")
    got = s3.get_object(Bucket=bucket, Key="vn", VersionId="null")
    assert status_of(got) == 200
    assert got["Body"].read() == b"null version"
    head = s3.head_object(Bucket=bucket, Key="vn", VersionId="null")
    assert status_of(head) == 200
    assert head["ContentLength"] == len(b"null version")
    dele = s3.delete_object(Bucket=bucket, Key="vn", VersionId="null")
    assert status_of(dele) == 204
    assert object_absent(s3, bucket, "vn")


# --- keys -----------------------------------------------------------------------------

SPECIAL_KEYS = [
    "a" * 1024,
    "日" * 300,  # 900 UTF-8 bytes
    "€" * 341,  # 1023 UTF-8 bytes
    "€" * 341 + "a",  # exactly 1024 UTF-8 bytes
    "with space",
    "plus+sign",
    "percent%20literal",
    "percent%",
    "tilde~x",
    "question?mark",
    "hash#tag",
    "amp&eq=val",
    "ü/日本/€",
    "/leading-slash",
    "trailing-slash/",
    "a//b",
    "semi;colon,comma",
    "quote'\"s",
    "brackets[]{}()<>",
    "emoji-😀",
    "tab\there",
    "star*caret^pipe|back\\slash",
    "@at$dollar!bang",
]


@pytest.mark.parametrize("key", SPECIAL_KEYS, ids=range(len(SPECIAL_KEYS)))
def test_special_keys_round_trip(s3, bucket, key):
    assert len(key.encode()) <= 1024
    body = key.encode() + b"!"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert get_bytes(s3, bucket, key) == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [key]
    v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert v1 == [key]
    assert status_of(s3.delete_object(Bucket=bucket, Key=key)) == 204
    assert object_absent(s3, bucket, key)


def test_flat_namespace(s3, bucket):
    # S3 has no directories: "a/b" and "a/b/c" coexist, and "a" or "a/" are not objects.
    s3.put_object(Bucket=bucket, Key="a/b", Body=b"file")
    s3.put_object(Bucket=bucket, Key="a/b/c", Body=b"nested")
    assert get_bytes(s3, bucket, "a/b") == b"file"
    assert get_bytes(s3, bucket, "a/b/c") == b"nested"
    for missing in ("a", "a/", "a/b/", "a/b/c/"):
        assert object_absent(s3, bucket, missing), missing
    s3.put_object(Bucket=bucket, Key="a/", Body=b"")
    assert s3.head_object(Bucket=bucket, Key="a/")["ContentLength"] == 0
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == ["a/", "a/b", "a/b/c"]
    s3.delete_object(Bucket=bucket, Key="a/b")
    assert get_bytes(s3, bucket, "a/b/c") == b"nested"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a/", "a/b/c"]


def test_key_too_long(s3, bucket):
    key = "k" * 1025
    with s3_error("KeyTooLongError", 400):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_key_too_long_multibyte(s3, bucket):
    key = "日" * 342  # 1026 bytes, only 342 characters
    with s3_error("KeyTooLongError", 400):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_long_keys_sharing_600_byte_prefix(s3, bucket):
    prefix = "p" * 590 + "/shared/"  # 598 bytes
    prefix += "xy"  # 600
    suffixes = ["b", "a", "A", "~", "!", "é", "\ue000", "😀", "a" * 400, "aa", "a/b", "0", "z"]
    # Keys differing only far beyond the shared prefix, some only in their last byte.
    suffixes += [f"{'m' * (300 + i)}{c}" for i in (0, 1, 99) for c in "0aZ~"]
    suffixes += [f"{i:02d}/" + "日" * 100 + str(i % 3) for i in range(30)]
    keys = [prefix + s for s in suffixes]
    for i, key in enumerate(keys):
        assert len(key.encode()) <= 1024
        s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())
    for i, key in enumerate(keys):
        assert get_bytes(s3, bucket, key) == str(i).encode(), key[600:]
    expected = sorted(keys, key=lambda k: k.encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert [k[600:] for k in listed] == [k[600:] for k in expected]
    assert listed == expected
    # The same through small pages, so continuation inside the shared prefix works.
    paged = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 3}
        )
        for o in page.get("Contents", [])
    ]
    assert paged == expected


# --- Expect: 100-continue ---------------------------------------------------------------


def _read_response_head(sock: socket.socket) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


@pytest.mark.parametrize("size", [64 * KiB, 1024 * KiB])  # parsed, and past the parser
def test_expect_100_continue(server, bucket, size):
    s3v4 = make_client(server, signature_version="s3v4")
    url = s3v4.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "expect"}, ExpiresIn=300
    )
    parts = urlsplit(url)
    body = os.urandom(size)
    head = (
        f"PUT {parts.path}?{parts.query} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n"
        "\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        interim = _read_response_head(sock)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        sock.sendall(body)
        deadline = time.monotonic() + 10
        final = interim.split(b"\r\n\r\n", 1)[1]
        while b"\r\n\r\n" not in final and time.monotonic() < deadline:
            final += sock.recv(4096)
    assert final.startswith(b"HTTP/1.1 200"), final
    assert get_bytes(s3v4, bucket, "expect") == body


def _expect_continue_refused(url: str, method: str = "PUT", length: int = 1 << 20) -> bytes:
    """Send only the head of a request with Expect: 100-continue; return the answer that
    comes without the body (the test fails on a timeout if the server waits for it)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        answer = _read_response_head(sock)
        status, _, rest = answer.partition(b"\r\n\r\n")
        while b"</Error>" not in rest:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                raise AssertionError(answer + rest) from None
            if not chunk:
                break
            rest += chunk
    return status + b"\r\n\r\n" + rest


@pytest.mark.parametrize("length", [1000, 1 << 20])
def test_expect_100_continue_refused_before_the_body(server, s3, bucket, length):
    """A request refused on its head is answered at once, without 100 Continue and
    without waiting for a body the client holds back; the connection then closes."""
    s3v4 = make_client(server, signature_version="s3v4")
    missing = f"{bucket}-missing"
    url = s3v4.generate_presigned_url(
        "put_object", Params={"Bucket": missing, "Key": "k"}, ExpiresIn=300
    )
    answer = _expect_continue_refused(url, length=length)
    assert answer.startswith(b"HTTP/1.1 404"), answer
    assert b"<Code>NoSuchBucket</Code>" in answer and b"100 Continue" not in answer
    assert b"connection: close" in answer.lower()

    # A bad signature: AccessDenied-class refusals come before the body too.
    url = s3v4.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300
    )
    answer = _expect_continue_refused(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert answer.startswith(b"HTTP/1.1 403"), answer
    assert b"<Code>SignatureDoesNotMatch</Code>" in answer
    # Unsigned (anonymous) writes are denied.
    answer = _expect_continue_refused(f"{server.endpoint}/{bucket}/k", length=length)
    assert answer.startswith(b"HTTP/1.1 403"), answer
    assert b"<Code>AccessDenied</Code>" in answer
    assert object_absent(s3, bucket, "k")


def _put_chunked(server, bucket: str, key: str, body: bytes, encoding: str):
    """A PUT really sent aws-chunked (unsigned chunks), with this Content-Encoding."""
    payload = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    return raw_signed(
        server,
        "PUT",
        bucket,
        key,
        body=payload,
        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        headers={
            "Content-Encoding": encoding,
            "x-amz-decoded-content-length": str(len(body)),
            "Content-Length": str(len(payload)),
        },
    )


def test_content_encoding_kept_as_sent_without_aws_chunked(server, s3, bucket):
    """Content-Encoding comes back exactly as sent; only the aws-chunked coding (the
    transfer's, not the object's) is removed, and with nothing else left, no header."""
    for sent in ("gzip", "deflate, gzip", "deflate,gzip"):
        s3.put_object(Bucket=bucket, Key="enc", Body=b"x", ContentEncoding=sent)
        assert s3.head_object(Bucket=bucket, Key="enc")["ContentEncoding"] == sent
    cases = [
        ("gzip, aws-chunked", "gzip"),
        ("aws-chunked, gzip", "gzip"),
        ("aws-chunked,deflate, gzip", "deflate, gzip"),
        ("aws-chunked", None),
        ("aws-chunked, aws-chunked", None),
    ]
    for sent, expected in cases:
        resp = _put_chunked(server, bucket, "enc", b"body", sent)
        assert resp.status_code == 200, resp.text
        head = s3.head_object(Bucket=bucket, Key="enc")
        assert head.get("ContentEncoding") == expected, sent
        assert get_bytes(s3, bucket, "enc") == b"body"


def test_aws_chunked_coding_on_a_plain_body(s3, bucket):
    """boto3 over http sends a whole body (payload hash) even with ContentEncoding
    aws-chunked: the body is not de-framed, and the coding is not stored."""
    for sent, expected in [("aws-chunked", None), ("gzip, aws-chunked", "gzip")]:
        s3.put_object(Bucket=bucket, Key="plain-enc", Body=b"plain body", ContentEncoding=sent)
        head = s3.head_object(Bucket=bucket, Key="plain-enc")
        assert head.get("ContentEncoding") == expected, sent
        assert get_bytes(s3, bucket, "plain-enc") == b"plain body"
