"""Multipart upload through boto3, checked against AWS's documented behaviour.

Create/UploadPart/UploadPartCopy/Complete/Abort/ListParts/ListMultipartUploads, part reads
(partNumber), every Complete error (and that the upload survives it), conditional and
retried Complete, composite and full-object checksums, GC of aborted and unused parts, and
concurrent part uploads.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import socket
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lmdb
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.helpers import (
    get_bytes,
    headers_of,
    md5_hex,
    object_absent,
    quoted_etag,
    raw_signed,
    s3_error,
    status_of,
)

try:
    from awscrt import checksums as crt_checksums
except ImportError:  # pragma: no cover - awscrt is a declared dependency
    crt_checksums = None

MiB = 1024 * 1024
PART = 5 * MiB  # S3's minimum size of every part but the last
BLOCK = 4 * MiB  # the server's default block size


# --------------------------------------------------------------------------- helpers


def mp_etag(parts: list[bytes]) -> str:
    """S3's multipart ETag: MD5 of the concatenated binary part MD5s, '-', the part count."""
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def crc32_b64(data: bytes) -> str:
    return base64.b64encode((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")).decode()


def crc64nvme_b64(data: bytes) -> str:
    assert crt_checksums is not None
    return base64.b64encode(crt_checksums.crc64nvme(data).to_bytes(8, "big")).decode()


def abort_all(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for up in page.get("Uploads", []):
            with contextlib.suppress(ClientError):
                s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])


@pytest.fixture
def mp_bucket(s3, bucket):
    """`bucket`, with every open upload aborted before the bucket fixture deletes it."""
    yield bucket
    with contextlib.suppress(ClientError):
        abort_all(s3, bucket)


def create(s3: Any, bucket: str, key: str, **kw: Any) -> str:
    return s3.create_multipart_upload(Bucket=bucket, Key=key, **kw)["UploadId"]


def put_part(s3: Any, bucket: str, key: str, upload_id: str, n: int, data: bytes, **kw: Any):
    resp = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data, **kw)
    assert resp["ETag"] == quoted_etag(data)
    return resp


def complete(s3: Any, bucket: str, key: str, upload_id: str, parts: list[dict], **kw: Any):
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, **kw
    )


def upload_parts(s3: Any, bucket: str, key: str, upload_id: str, bodies: list[bytes]) -> list:
    """Upload bodies as parts 1..n; return the Complete part list."""
    out = []
    for i, data in enumerate(bodies, 1):
        resp = put_part(s3, bucket, key, upload_id, i, data)
        out.append({"PartNumber": i, "ETag": resp["ETag"]})
    return out


def listed_part_numbers(s3: Any, bucket: str, key: str, upload_id: str) -> list[int]:
    return [
        p["PartNumber"]
        for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", [])
    ]


def rand(n: int) -> bytes:
    return os.urandom(n)


# ------------------------------------------------------------------- round trip


def test_round_trip_etag_and_part_reads(s3, mp_bucket):
    key = "mp/round-trip"
    # Three parts: two of 5 MiB (not block-aligned: 4 MiB blocks) and a short last one.
    bodies = [rand(PART), rand(PART), rand(777_777)]
    upload_id = create(s3, mp_bucket, key, ContentType="application/x-cairn", Metadata={"a": "b"})
    parts = upload_parts(s3, mp_bucket, key, upload_id, bodies)
    assert object_absent(s3, mp_bucket, key)

    resp = complete(s3, mp_bucket, key, upload_id, parts)
    whole = b"".join(bodies)
    assert resp["ETag"] == mp_etag(bodies)
    assert resp["ETag"].endswith('-3"')
    assert resp["Bucket"] == mp_bucket and resp["Key"] == key

    head = s3.head_object(Bucket=mp_bucket, Key=key)
    assert head["ContentLength"] == len(whole)
    assert head["ETag"] == mp_etag(bodies)
    assert head["ContentType"] == "application/x-cairn"
    assert head["Metadata"] == {"a": "b"}
    got = get_bytes(s3, mp_bucket, key)
    assert len(got) == len(whole) and md5_hex(got) == md5_hex(whole)

    listed = s3.list_objects_v2(Bucket=mp_bucket, Prefix=key)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        (key, len(whole), mp_etag(bodies))
    ]

    # GetObject / HeadObject with partNumber: that part's bytes, and the part count.
    offset = 0
    for n, body in enumerate(bodies, 1):
        g = s3.get_object(Bucket=mp_bucket, Key=key, PartNumber=n)
        assert status_of(g) == 206
        assert g["Body"].read() == body
        assert g["ContentLength"] == len(body)
        assert g["PartsCount"] == 3
        assert headers_of(g)["x-amz-mp-parts-count"] == "3"
        assert g["ContentRange"] == f"bytes {offset}-{offset + len(body) - 1}/{len(whole)}"
        assert g["ETag"] == mp_etag(bodies)  # the object's ETag, not the part's
        h = s3.head_object(Bucket=mp_bucket, Key=key, PartNumber=n)
        assert h["ContentLength"] == len(body)
        assert h["PartsCount"] == 3
        offset += len(body)

    # A part number beyond the count: 416 InvalidPartNumber ("The requested partnumber is
    # not satisfiable"), naming the part asked for and the count, as AWS answers.
    with s3_error("InvalidPartNumber", 416) as caught:
        s3.get_object(Bucket=mp_bucket, Key=key, PartNumber=4)
    assert caught.value.response["Error"]["PartNumberRequested"] == "4"
    assert caught.value.response["Error"]["ActualPartCount"] == "3"
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=mp_bucket, Key=key, PartNumber=4)
    assert status_of(ei.value.response) == 416


def test_part_number_one_of_a_simple_object(s3, bucket):
    """partNumber=1 of a non-multipart object is the whole object; 2 is not satisfiable."""
    data = rand(1000)
    s3.put_object(Bucket=bucket, Key="simple", Body=data)
    g = s3.get_object(Bucket=bucket, Key="simple", PartNumber=1)
    assert g["Body"].read() == data
    with s3_error("InvalidPartNumber", 416):
        s3.get_object(Bucket=bucket, Key="simple", PartNumber=2)


def test_part_number_with_range_is_invalid_request(s3, bucket):
    """partNumber and a Range header together: 400 InvalidRequest, as AWS answers."""
    s3.put_object(Bucket=bucket, Key="simple", Body=b"0123456789")
    with s3_error("InvalidRequest", 400):
        s3.get_object(Bucket=bucket, Key="simple", PartNumber=1, Range="bytes=0-1")


def test_parts_invisible_before_complete(s3, mp_bucket):
    """An upload's parts never appear in ListObjectsV2 before Complete."""
    key = "pending/obj"
    upload_id = create(s3, mp_bucket, key)
    upload_parts(s3, mp_bucket, key, upload_id, [rand(PART), rand(1000)])
    assert s3.list_objects_v2(Bucket=mp_bucket).get("KeyCount") == 0
    assert "Contents" not in s3.list_objects_v2(Bucket=mp_bucket)
    assert object_absent(s3, mp_bucket, key)
    ups = s3.list_multipart_uploads(Bucket=mp_bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in ups] == [(key, upload_id)]


# ---------------------------------------------------------------- UploadPartCopy


def test_upload_part_copy_ranges(s3, mp_bucket):
    src_key = "copy/source"
    src = rand(13 * MiB)
    s3.put_object(Bucket=mp_bucket, Key=src_key, Body=src)
    key = "copy/dest"
    upload_id = create(s3, mp_bucket, key)
    source = {"Bucket": mp_bucket, "Key": src_key}
    # 1: crosses the 4 MiB and 8 MiB block boundaries, starting and ending mid-block
    r1 = (3 * MiB + 17, 9 * MiB + 16)  # inclusive first/last
    # 2: starts and ends exactly on block boundaries (whole blocks shared)
    r2 = (4 * MiB, 12 * MiB - 1)
    # 4: a short tail as the last part
    r4 = (12 * MiB + 5, 13 * MiB - 1)
    expected_bodies = [
        src[r1[0] : r1[1] + 1],
        src[r2[0] : r2[1] + 1],
        src,  # 3: the whole object, no range
        src[r4[0] : r4[1] + 1],
    ]
    parts = []
    for n, rng in ((1, r1), (2, r2), (3, None), (4, r4)):
        kw = {"CopySourceRange": f"bytes={rng[0]}-{rng[1]}"} if rng else {}
        resp = s3.upload_part_copy(
            Bucket=mp_bucket, Key=key, UploadId=upload_id, PartNumber=n, CopySource=source, **kw
        )
        etag = resp["CopyPartResult"]["ETag"]
        assert etag == quoted_etag(expected_bodies[n - 1]), n
        assert "LastModified" in resp["CopyPartResult"]
        parts.append({"PartNumber": n, "ETag": etag})

    listed = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=upload_id)["Parts"]
    assert [p["Size"] for p in listed] == [len(b) for b in expected_bodies]

    resp = complete(s3, mp_bucket, key, upload_id, parts)
    assert resp["ETag"] == mp_etag(expected_bodies)
    got = get_bytes(s3, mp_bucket, key)
    whole = b"".join(expected_bodies)
    assert len(got) == len(whole) and got == whole
    # The source is untouched.
    assert get_bytes(s3, mp_bucket, src_key) == src


def test_upload_part_copy_errors(s3, mp_bucket):
    src = rand(10 * MiB)
    s3.put_object(Bucket=mp_bucket, Key="src", Body=src)
    etag = quoted_etag(src)
    upload_id = create(s3, mp_bucket, "dst")
    source = {"Bucket": mp_bucket, "Key": "src"}

    def copy(**kw: Any):
        return s3.upload_part_copy(
            Bucket=mp_bucket, Key="dst", UploadId=upload_id, PartNumber=1, CopySource=source, **kw
        )

    # A range past the end of the source: InvalidRange (s3-tests accept 400 or 416).
    with pytest.raises(ClientError) as ei:
        copy(CopySourceRange=f"bytes=0-{len(src)}")
    assert ei.value.response["Error"]["Code"] == "InvalidRange", ei.value.response
    assert status_of(ei.value.response) in (400, 416)
    with pytest.raises(ClientError) as ei:
        copy(CopySourceRange=f"bytes={len(src) + 10}-{len(src) + 20}")
    assert ei.value.response["Error"]["Code"] == "InvalidRange", ei.value.response

    # x-amz-copy-source-if-match that fails: 412 PreconditionFailed.
    with s3_error("PreconditionFailed", 412):
        copy(CopySourceIfMatch='"0123456789abcdef0123456789abcdef"')
    # ... and one that holds copies.
    resp = copy(CopySourceIfMatch=etag, CopySourceRange="bytes=0-99")
    assert resp["CopyPartResult"]["ETag"] == quoted_etag(src[:100])
    # if-none-match with the current ETag: 412 too.
    with s3_error("PreconditionFailed", 412):
        copy(CopySourceIfNoneMatch=etag)

    # A missing source key: NoSuchKey.
    with s3_error("NoSuchKey", 404):
        s3.upload_part_copy(
            Bucket=mp_bucket,
            Key="dst",
            UploadId=upload_id,
            PartNumber=2,
            CopySource={"Bucket": mp_bucket, "Key": "no-such-source"},
        )
    # An unknown upload id.
    with s3_error("NoSuchUpload", 404):
        s3.upload_part_copy(
            Bucket=mp_bucket, Key="dst", UploadId=uuid.uuid4().hex, PartNumber=1, CopySource=source
        )
    # None of the failures left a part behind except the good one.
    assert listed_part_numbers(s3, mp_bucket, "dst", upload_id) == [1]


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize("number", [0, 10001])
def test_part_number_out_of_range(s3, mp_bucket, number):
    upload_id = create(s3, mp_bucket, "k")
    with s3_error("InvalidArgument", 400):
        s3.upload_part(Bucket=mp_bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=b"x")
    with s3_error("InvalidArgument", 400):
        s3.upload_part_copy(
            Bucket=mp_bucket,
            Key="k",
            UploadId=upload_id,
            PartNumber=number,
            CopySource={"Bucket": mp_bucket, "Key": "whatever"},
        )
    assert listed_part_numbers(s3, mp_bucket, "k", upload_id) == []


def test_part_number_bounds_accepted(s3, mp_bucket):
    upload_id = create(s3, mp_bucket, "k")
    put_part(s3, mp_bucket, "k", upload_id, 1, b"first")
    put_part(s3, mp_bucket, "k", upload_id, 10000, b"last")
    assert listed_part_numbers(s3, mp_bucket, "k", upload_id) == [1, 10000]


def _assert_still_usable(s3, bucket: str, key: str, upload_id: str, numbers: list[int]) -> None:
    assert object_absent(s3, bucket, key)
    assert listed_part_numbers(s3, bucket, key, upload_id) == numbers
    ups = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert upload_id in [u["UploadId"] for u in ups]


def test_complete_errors_leave_upload_usable(s3, server, mp_bucket):
    key = "errors/obj"
    upload_id = create(s3, mp_bucket, key)
    p1, p2, p3 = rand(PART), rand(1 * MiB), rand(2048)
    e1 = put_part(s3, mp_bucket, key, upload_id, 1, p1)["ETag"]
    e2 = put_part(s3, mp_bucket, key, upload_id, 2, p2)["ETag"]
    e3 = put_part(s3, mp_bucket, key, upload_id, 3, p3)["ETag"]
    e4 = put_part(s3, mp_bucket, key, upload_id, 4, rand(PART))["ETag"]
    numbers = [1, 2, 3, 4]

    # A part that is not the last is smaller than 5 MiB.
    with s3_error("EntityTooSmall", 400):
        complete(
            s3,
            mp_bucket,
            key,
            upload_id,
            [
                {"PartNumber": 1, "ETag": e1},
                {"PartNumber": 2, "ETag": e2},
                {"PartNumber": 3, "ETag": e3},
            ],
        )
    _assert_still_usable(s3, mp_bucket, key, upload_id, numbers)

    # A wrong ETag.
    with s3_error("InvalidPart", 400):
        complete(
            s3,
            mp_bucket,
            key,
            upload_id,
            [{"PartNumber": 1, "ETag": quoted_etag(b"other")}, {"PartNumber": 3, "ETag": e3}],
        )
    _assert_still_usable(s3, mp_bucket, key, upload_id, numbers)

    # A part that was never uploaded.
    with s3_error("InvalidPart", 400):
        complete(
            s3,
            mp_bucket,
            key,
            upload_id,
            [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 7, "ETag": e3}],
        )
    _assert_still_usable(s3, mp_bucket, key, upload_id, numbers)

    # Parts out of order (both big enough, so only the order is wrong); a repeated part
    # number is its last entry, whose ETag must be the part's.
    with s3_error("InvalidPartOrder", 400):
        complete(
            s3,
            mp_bucket,
            key,
            upload_id,
            [{"PartNumber": 4, "ETag": e4}, {"PartNumber": 1, "ETag": e1}],
        )
    _assert_still_usable(s3, mp_bucket, key, upload_id, numbers)
    with s3_error("InvalidPart", 400):
        complete(
            s3,
            mp_bucket,
            key,
            upload_id,
            [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 1, "ETag": e2}],
        )
    _assert_still_usable(s3, mp_bucket, key, upload_id, numbers)

    # An empty part list.
    with s3_error("MalformedXML", 400):
        complete(s3, mp_bucket, key, upload_id, [])
    _assert_still_usable(s3, mp_bucket, key, upload_id, numbers)

    # Malformed XML (raw request: boto3 only sends well-formed documents).
    for body in (b"<CompleteMultipartUpload><Part>", b"not xml at all", b""):
        r = raw_signed(server, "POST", mp_bucket, key, params={"uploadId": upload_id}, body=body)
        assert r.status_code == 400, (body, r.text)
        assert b"<Code>MalformedXML</Code>" in r.content, (body, r.text)
    _assert_still_usable(s3, mp_bucket, key, upload_id, numbers)

    # After all that, a correct Complete (skipping part 2: gaps are allowed) works.
    resp = complete(
        s3,
        mp_bucket,
        key,
        upload_id,
        [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e3}],
    )
    assert resp["ETag"] == mp_etag([p1, p3])
    assert get_bytes(s3, mp_bucket, key) == p1 + p3
    assert s3.get_object(Bucket=mp_bucket, Key=key, PartNumber=2)["Body"].read() == p3
    # Completing removed the upload and its unused part.
    assert s3.list_multipart_uploads(Bucket=mp_bucket).get("Uploads", []) == []


def test_unknown_upload_id(s3, mp_bucket):
    for upload_id in (uuid.uuid4().hex, "not-an-upload-id"):
        with s3_error("NoSuchUpload", 404):
            s3.upload_part(Bucket=mp_bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")
        with s3_error("NoSuchUpload", 404):
            complete(s3, mp_bucket, "k", upload_id, [{"PartNumber": 1, "ETag": quoted_etag(b"x")}])
        with s3_error("NoSuchUpload", 404):
            s3.abort_multipart_upload(Bucket=mp_bucket, Key="k", UploadId=upload_id)
        with s3_error("NoSuchUpload", 404):
            s3.list_parts(Bucket=mp_bucket, Key="k", UploadId=upload_id)
    # An upload id is bound to its key.
    upload_id = create(s3, mp_bucket, "real-key")
    with s3_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=mp_bucket, Key="other", UploadId=upload_id, PartNumber=1, Body=b"x")
    with s3_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=mp_bucket, Key="other", UploadId=upload_id)
    assert object_absent(s3, mp_bucket, "k")


def test_upload_to_missing_bucket(s3):
    name = f"missing-{uuid.uuid4().hex[:12]}"
    with s3_error("NoSuchBucket", 404):
        s3.create_multipart_upload(Bucket=name, Key="k")


# ------------------------------------------------------------ replace, retry, conditions


def test_reupload_replaces_part(s3, mp_bucket):
    key = "replace"
    upload_id = create(s3, mp_bucket, key)
    first, second, tail = rand(PART), rand(PART + 3), rand(100)
    old = put_part(s3, mp_bucket, key, upload_id, 1, first)["ETag"]
    new = put_part(s3, mp_bucket, key, upload_id, 1, second)["ETag"]
    e2 = put_part(s3, mp_bucket, key, upload_id, 2, tail)["ETag"]
    listed = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
        (1, new, len(second)),
        (2, e2, len(tail)),
    ]
    # The replaced part's ETag no longer completes.
    with s3_error("InvalidPart", 400):
        complete(
            s3,
            mp_bucket,
            key,
            upload_id,
            [{"PartNumber": 1, "ETag": old}, {"PartNumber": 2, "ETag": e2}],
        )
    resp = complete(
        s3,
        mp_bucket,
        key,
        upload_id,
        [{"PartNumber": 1, "ETag": new}, {"PartNumber": 2, "ETag": e2}],
    )
    assert resp["ETag"] == mp_etag([second, tail])
    assert get_bytes(s3, mp_bucket, key) == second + tail


def test_part_started_first_finishing_last_is_the_part(server, s3, mp_bucket):
    """Part 1 is sent twice: the first upload's body stalls while the second is sent whole,
    then finishes. The upload that finished last is the part; a Complete naming both
    answers (in the order they arrived) completes with it."""
    key = "race"
    upload_id = create(s3, mp_bucket, key)
    first, second = b"A" * 64, b"B" * 64
    url = make_client(server, signature_version="s3v4").generate_presigned_url(
        "upload_part",
        Params={"Bucket": mp_bucket, "Key": key, "UploadId": upload_id, "PartNumber": 1},
        ExpiresIn=300,
    )
    parts = urlsplit(url)
    head = (
        f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Length: {len(first)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + first[:10])
        etag_b = put_part(s3, mp_bucket, key, upload_id, 1, second)["ETag"]
        sock.sendall(first[10:])
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    etag_a = quoted_etag(first)
    assert etag_a.encode() in answer
    listed = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, etag_a)]
    resp = complete(
        s3,
        mp_bucket,
        key,
        upload_id,
        [{"PartNumber": 1, "ETag": etag_b}, {"PartNumber": 1, "ETag": etag_a}],
    )
    assert resp["ETag"] == mp_etag([first])
    assert get_bytes(s3, mp_bucket, key) == first


def test_complete_retry_is_idempotent(s3, mp_bucket):
    key = "retry"
    bodies = [rand(PART), rand(4321)]
    upload_id = create(s3, mp_bucket, key)
    parts = upload_parts(s3, mp_bucket, key, upload_id, bodies)
    first = complete(s3, mp_bucket, key, upload_id, parts)
    head1 = s3.head_object(Bucket=mp_bucket, Key=key)
    again = complete(s3, mp_bucket, key, upload_id, parts)
    assert status_of(again) == 200
    assert again["ETag"] == first["ETag"] == mp_etag(bodies)
    assert again["Key"] == key and again["Bucket"] == mp_bucket
    head2 = s3.head_object(Bucket=mp_bucket, Key=key)
    assert head2["ETag"] == head1["ETag"]
    assert head2["LastModified"] == head1["LastModified"]
    assert get_bytes(s3, mp_bucket, key) == b"".join(bodies)
    # The finished upload is gone for everything but a retried Complete.
    with s3_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=upload_id)
    with s3_error("NoSuchUpload", 404):
        put_part(s3, mp_bucket, key, upload_id, 3, b"late")


def test_complete_retry_keeps_checksum(s3, mp_bucket):
    """A retried Complete answers what the first did, the object checksum included."""
    key = "retry/crc32"
    bodies = [rand(PART), rand(100)]
    upload_id = create(s3, mp_bucket, key, ChecksumAlgorithm="CRC32")
    parts = []
    for n, body in enumerate(bodies, 1):
        r = s3.upload_part(
            Bucket=mp_bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body,
            ChecksumCRC32=crc32_b64(body),
        )  # fmt: skip
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    first = complete(s3, mp_bucket, key, upload_id, parts)
    again = complete(s3, mp_bucket, key, upload_id, parts)
    assert again["ETag"] == first["ETag"]
    assert again.get("ChecksumCRC32") == first["ChecksumCRC32"]
    assert again.get("ChecksumType") == first.get("ChecksumType") == "COMPOSITE"


def test_complete_if_none_match(s3, mp_bucket):
    key = "cond/none-match"
    # Key absent: IfNoneMatch="*" succeeds.
    body = rand(1000)
    upload_id = create(s3, mp_bucket, key)
    parts = upload_parts(s3, mp_bucket, key, upload_id, [body])
    resp = complete(s3, mp_bucket, key, upload_id, parts, IfNoneMatch="*")
    assert resp["ETag"] == mp_etag([body])

    # Key present: 412, and the existing object is unchanged.
    upload_id = create(s3, mp_bucket, key)
    parts = upload_parts(s3, mp_bucket, key, upload_id, [rand(2000)])
    with s3_error("PreconditionFailed", 412):
        complete(s3, mp_bucket, key, upload_id, parts, IfNoneMatch="*")
    assert get_bytes(s3, mp_bucket, key) == body
    assert s3.head_object(Bucket=mp_bucket, Key=key)["ETag"] == mp_etag([body])


def test_complete_if_match(s3, mp_bucket):
    key = "cond/match"
    original = rand(500)
    s3.put_object(Bucket=mp_bucket, Key=key, Body=original)
    etag = quoted_etag(original)

    upload_id = create(s3, mp_bucket, key)
    new = rand(3000)
    parts = upload_parts(s3, mp_bucket, key, upload_id, [new])
    with s3_error("PreconditionFailed", 412):
        complete(s3, mp_bucket, key, upload_id, parts, IfMatch=quoted_etag(b"something else"))
    assert get_bytes(s3, mp_bucket, key) == original
    resp = complete(s3, mp_bucket, key, upload_id, parts, IfMatch=etag)
    assert resp["ETag"] == mp_etag([new])
    assert get_bytes(s3, mp_bucket, key) == new


# ------------------------------------------------------------------------- listing


def test_list_parts_pagination(s3, mp_bucket):
    key = "list/parts"
    upload_id = create(s3, mp_bucket, key)
    bodies = [rand(1000 + i) for i in range(5)]
    parts = upload_parts(s3, mp_bucket, key, upload_id, bodies)

    seen: list[tuple[int, str, int]] = []
    marker = 0
    pages = 0
    while True:
        kw = {"PartNumberMarker": marker} if marker else {}
        page = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=upload_id, MaxParts=2, **kw)
        pages += 1
        assert page["MaxParts"] == 2
        assert page["UploadId"] == upload_id and page["Key"] == key
        assert page.get("PartNumberMarker", 0) == marker
        got = [(p["PartNumber"], p["ETag"], p["Size"]) for p in page.get("Parts", [])]
        seen += got
        if not page["IsTruncated"]:
            break
        assert len(got) == 2
        assert page["NextPartNumberMarker"] == got[-1][0]
        marker = page["NextPartNumberMarker"]
    assert pages == 3
    assert seen == [
        (p["PartNumber"], p["ETag"], len(b)) for p, b in zip(parts, bodies, strict=True)
    ]

    # The paginator agrees.
    pag = s3.get_paginator("list_parts").paginate(
        Bucket=mp_bucket, Key=key, UploadId=upload_id, PaginationConfig={"PageSize": 2}
    )
    assert [p["PartNumber"] for page in pag for p in page.get("Parts", [])] == [1, 2, 3, 4, 5]

    # A marker past the last part: nothing, not truncated.
    page = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=upload_id, PartNumberMarker=5)
    assert page.get("Parts", []) == [] and not page["IsTruncated"]


def _create_unsorted_trio(s3, bucket: str, key: str) -> list[str]:
    """Three uploads of one key whose ids are NOT in lexicographic order of initiation.

    S3 orders uploads of one key by initiation time, but the upload-id-marker selects
    "upload IDs lexicographically greater": pagination between them must still return
    every upload once. Ids that happen to sort in initiation order would hide a mix-up."""
    ids: list[str] = []
    for _ in range(50):
        time.sleep(0.01)  # distinct initiation times
        ids.append(create(s3, bucket, key))
        if len(ids) == 3:
            if ids != sorted(ids):
                return ids
            # Drop the oldest, not the newest: the two kept are in order and the next id
            # need only sort below the larger. Dropping the newest kept a pair whose
            # second id could sort near the bottom, and 48 more draws all landed above
            # it once in CI (about 1 run in 2,500). A window that slides fails only if
            # 50 random ids come out in increasing order.
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=ids.pop(0))
    raise AssertionError("could not get three unsorted upload ids")


def test_list_multipart_uploads(s3, mp_bucket):
    expected = _five_uploads_on_three_keys(s3, mp_bucket)

    full = s3.list_multipart_uploads(Bucket=mp_bucket)
    assert [(u["Key"], u["UploadId"]) for u in full["Uploads"]] == expected
    assert not full["IsTruncated"]
    for u in full["Uploads"]:
        assert "Initiated" in u and u["StorageClass"] == "STANDARD"

    # Prefix.
    page = s3.list_multipart_uploads(Bucket=mp_bucket, Prefix="dir/")
    assert [(u["Key"], u["UploadId"]) for u in page["Uploads"]] == expected[3:]
    assert page["Prefix"] == "dir/"

    # Delimiter: "dir/" rolls up into a common prefix.
    page = s3.list_multipart_uploads(Bucket=mp_bucket, Delimiter="/")
    assert [(u["Key"], u["UploadId"]) for u in page["Uploads"]] == expected[:3]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["dir/"]
    page = s3.list_multipart_uploads(Bucket=mp_bucket, Delimiter="/", Prefix="dir/")
    assert [u["Key"] for u in page["Uploads"]] == ["dir/b", "dir/c"]
    assert page.get("CommonPrefixes", []) == []

    # KeyMarker alone: only keys after it.
    page = s3.list_multipart_uploads(Bucket=mp_bucket, KeyMarker="a")
    assert [(u["Key"], u["UploadId"]) for u in page["Uploads"]] == expected[3:]

    # Delimiter with pagination: the common prefix counts as one entry.
    page = s3.list_multipart_uploads(Bucket=mp_bucket, Delimiter="/", KeyMarker="a")
    assert page.get("Uploads", []) == []
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["dir/"]


def _five_uploads_on_three_keys(s3, bucket: str) -> list[tuple[str, str]]:
    trio = _create_unsorted_trio(s3, bucket, "a")
    time.sleep(0.01)
    b_id = create(s3, bucket, "dir/b")
    time.sleep(0.01)
    c_id = create(s3, bucket, "dir/c")
    return [("a", u) for u in trio] + [("dir/b", b_id), ("dir/c", c_id)]


def test_list_multipart_uploads_pagination(s3, mp_bucket):
    expected = _five_uploads_on_three_keys(s3, mp_bucket)

    # Pagination with MaxUploads=2 over 5 uploads on 3 keys: every upload once, in order.
    seen: list[tuple[str, str]] = []
    kw: dict[str, str] = {}
    pages = 0
    while True:
        page = s3.list_multipart_uploads(Bucket=mp_bucket, MaxUploads=2, **kw)
        pages += 1
        assert page["MaxUploads"] == 2
        got = [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        seen += got
        if not page["IsTruncated"]:
            break
        assert len(got) == 2
        assert (page["NextKeyMarker"], page["NextUploadIdMarker"]) == got[-1]
        kw = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
        assert pages < 10
    assert seen == expected, (
        "each upload exactly once, by key then initiation; upload ids in initiation "
        f"order are {[u for _, u in expected[:3]]}"
    )
    assert pages == 3

    # The paginator agrees.
    pag = s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=mp_bucket, PaginationConfig={"PageSize": 2}
    )
    assert [(u["Key"], u["UploadId"]) for page in pag for u in page.get("Uploads", [])] == expected


def test_abort(s3, mp_bucket):
    key = "abort/me"
    upload_id = create(s3, mp_bucket, key)
    upload_parts(s3, mp_bucket, key, upload_id, [rand(PART), rand(10)])
    resp = s3.abort_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=upload_id)
    assert status_of(resp) == 204
    with s3_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=upload_id)
    with s3_error("NoSuchUpload", 404):
        s3.abort_multipart_upload(Bucket=mp_bucket, Key=key, UploadId=upload_id)
    with s3_error("NoSuchUpload", 404):
        put_part(s3, mp_bucket, key, upload_id, 1, b"late")
    assert s3.list_multipart_uploads(Bucket=mp_bucket).get("Uploads", []) == []
    assert object_absent(s3, mp_bucket, key)
    assert "Contents" not in s3.list_objects_v2(Bucket=mp_bucket)


def test_bucket_deletable_after_abort(s3):
    # DeleteBucket with an upload still open is not asserted: AWS documents "all objects
    # (including all object versions and delete markers)" must go, and only for directory
    # buckets that in-progress uploads must be aborted first; general purpose buckets are
    # left unspecified.
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    upload_id = create(s3, name, "k")
    upload_parts(s3, name, "k", upload_id, [rand(1000)])
    s3.abort_multipart_upload(Bucket=name, Key="k", UploadId=upload_id)
    assert status_of(s3.delete_bucket(Bucket=name)) == 204
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=name)
    assert status_of(ei.value.response) == 404


# ----------------------------------------------------------------------- checksums


def test_checksum_crc32_composite(s3, mp_bucket):
    key = "sum/crc32"
    bodies = [rand(PART), rand(PART), rand(12345)]
    resp = s3.create_multipart_upload(Bucket=mp_bucket, Key=key, ChecksumAlgorithm="CRC32")
    assert resp["ChecksumAlgorithm"] == "CRC32"
    assert resp.get("ChecksumType", "COMPOSITE") == "COMPOSITE"
    upload_id = resp["UploadId"]
    parts = []
    for n, body in enumerate(bodies, 1):
        r = s3.upload_part(
            Bucket=mp_bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=n,
            Body=body,
            ChecksumCRC32=crc32_b64(body),
        )
        assert r["ChecksumCRC32"] == crc32_b64(body)
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})

    listed = s3.list_parts(Bucket=mp_bucket, Key=key, UploadId=upload_id)
    assert listed["ChecksumAlgorithm"] == "CRC32"
    assert [p["ChecksumCRC32"] for p in listed["Parts"]] == [crc32_b64(b) for b in bodies]

    raw = b"".join(base64.b64decode(crc32_b64(b)) for b in bodies)
    expected = f"{crc32_b64(raw)}-{len(bodies)}"
    done = complete(s3, mp_bucket, key, upload_id, parts)
    assert done["ChecksumCRC32"] == expected
    assert done["ChecksumCRC32"].endswith("-3")
    assert done.get("ChecksumType") == "COMPOSITE"

    head = s3.head_object(Bucket=mp_bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == expected
    assert head.get("ChecksumType") == "COMPOSITE"
    assert get_bytes(s3, mp_bucket, key, ChecksumMode="ENABLED") == b"".join(bodies)
    # A part read returns that part's bytes.
    g = s3.get_object(Bucket=mp_bucket, Key=key, PartNumber=3)
    assert g["Body"].read() == bodies[2]


def test_checksum_crc32_complete_with_wrong_part_checksum(s3, mp_bucket):
    key = "sum/crc32-bad-complete"
    body = rand(1000)
    upload_id = create(s3, mp_bucket, key, ChecksumAlgorithm="CRC32")
    r = s3.upload_part(
        Bucket=mp_bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=body,
        ChecksumCRC32=crc32_b64(body),
    )  # fmt: skip
    with pytest.raises(ClientError) as ei:
        complete(
            s3,
            mp_bucket,
            key,
            upload_id,
            [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": crc32_b64(b"other")}],
        )
    assert ei.value.response["Error"]["Code"] in ("InvalidPart", "BadDigest")
    assert status_of(ei.value.response) == 400
    assert object_absent(s3, mp_bucket, key)


def test_checksum_crc64nvme_full_object(s3, mp_bucket):
    if crt_checksums is None:
        pytest.skip("awscrt not installed")
    key = "sum/crc64"
    bodies = [rand(PART), rand(PART + 1), rand(999)]
    whole = b"".join(bodies)
    resp = s3.create_multipart_upload(
        Bucket=mp_bucket, Key=key, ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
    )
    assert resp["ChecksumAlgorithm"] == "CRC64NVME"
    assert resp["ChecksumType"] == "FULL_OBJECT"
    upload_id = resp["UploadId"]
    parts = []
    for n, body in enumerate(bodies, 1):
        r = s3.upload_part(
            Bucket=mp_bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=n,
            Body=body,
            ChecksumCRC64NVME=crc64nvme_b64(body),
        )
        assert r["ChecksumCRC64NVME"] == crc64nvme_b64(body)
        parts.append(
            {"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC64NVME": r["ChecksumCRC64NVME"]}
        )
    done = complete(s3, mp_bucket, key, upload_id, parts, ChecksumType="FULL_OBJECT")
    assert done["ChecksumCRC64NVME"] == crc64nvme_b64(whole)
    assert done.get("ChecksumType") == "FULL_OBJECT"
    head = s3.head_object(Bucket=mp_bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == crc64nvme_b64(whole)
    assert head.get("ChecksumType") == "FULL_OBJECT"
    # botocore validates a full-object checksum on GET with ChecksumMode=ENABLED.
    assert get_bytes(s3, mp_bucket, key, ChecksumMode="ENABLED") == whole


def test_checksum_crc64nvme_full_object_default_type(s3, mp_bucket):
    """CRC64NVME without an explicit type is FULL_OBJECT (the only type it supports)."""
    if crt_checksums is None:
        pytest.skip("awscrt not installed")
    key = "sum/crc64-default"
    resp = s3.create_multipart_upload(Bucket=mp_bucket, Key=key, ChecksumAlgorithm="CRC64NVME")
    assert resp.get("ChecksumType") == "FULL_OBJECT"
    bodies = [rand(PART), rand(77)]
    parts = []
    for n, body in enumerate(bodies, 1):
        r = s3.upload_part(
            Bucket=mp_bucket, Key=key, UploadId=resp["UploadId"], PartNumber=n, Body=body,
            ChecksumCRC64NVME=crc64nvme_b64(body),
        )  # fmt: skip
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    done = complete(s3, mp_bucket, key, resp["UploadId"], parts)
    assert done["ChecksumCRC64NVME"] == crc64nvme_b64(b"".join(bodies))


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC64NVME"])
def test_part_with_wrong_checksum_is_bad_digest(s3, mp_bucket, algorithm):
    if algorithm == "CRC64NVME" and crt_checksums is None:
        pytest.skip("awscrt not installed")
    key = f"sum/bad-{algorithm}"
    upload_id = create(s3, mp_bucket, key, ChecksumAlgorithm=algorithm)
    body = rand(100_000)
    wrong = crc32_b64(b"not the body") if algorithm == "CRC32" else crc64nvme_b64(b"nope")
    with s3_error("BadDigest", 400):
        s3.upload_part(
            Bucket=mp_bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=1,
            Body=body,
            **{f"Checksum{algorithm}": wrong},
        )
    assert listed_part_numbers(s3, mp_bucket, key, upload_id) == []
    # A wrong Content-MD5 as well (with the upload's algorithm: a part of another one is
    # refused before its body is read, see test_checksums_multipart.py).
    with s3_error("BadDigest", 400):
        s3.upload_part(
            Bucket=mp_bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=1,
            Body=body,
            ChecksumAlgorithm=algorithm,
            ContentMD5=base64.b64encode(hashlib.md5(b"x").digest()).decode(),
        )
    assert listed_part_numbers(s3, mp_bucket, key, upload_id) == []


@pytest.mark.parametrize("algorithm", [None, "CRC32"])
def test_tls_round_trip_with_trailer_checksums(s3_tls, algorithm):
    """Over HTTPS botocore sends each part aws-chunked with a trailing CRC32."""
    s3 = s3_tls
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    try:
        key = "tls/obj"
        kw = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        upload_id = create(s3, name, key, **kw)
        bodies = [rand(PART), rand(PART), rand(5555)]
        parts = []
        for n, body in enumerate(bodies, 1):
            r = s3.upload_part(
                Bucket=name, Key=key, UploadId=upload_id, PartNumber=n, Body=body, **kw
            )
            assert r["ETag"] == quoted_etag(body)
            assert r["ChecksumCRC32"] == crc32_b64(body)  # botocore's default trailer
            entry = {"PartNumber": n, "ETag": r["ETag"]}
            if algorithm:
                entry["ChecksumCRC32"] = r["ChecksumCRC32"]
            parts.append(entry)
        done = complete(s3, name, key, upload_id, parts)
        assert done["ETag"] == mp_etag(bodies)
        if algorithm:
            raw = b"".join(base64.b64decode(crc32_b64(b)) for b in bodies)
            assert done["ChecksumCRC32"] == f"{crc32_b64(raw)}-3"
        assert get_bytes(s3, name, key) == b"".join(bodies)

        # s3transfer's own multipart path over TLS too.
        data = rand(2 * PART + 100)

        cfg = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
        s3.upload_fileobj(io.BytesIO(data), name, "tls/transfer", Config=cfg)
        assert s3.head_object(Bucket=name, Key="tls/transfer")["ETag"] == mp_etag(
            [data[:PART], data[PART : 2 * PART], data[2 * PART :]]
        )
        assert get_bytes(s3, name, "tls/transfer") == data
    finally:
        abort_all(s3, name)
        for o in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=o["Key"])
        s3.delete_bucket(Bucket=name)


# ------------------------------------------------------------------------------ GC


def block_entries(server) -> int:
    path: Path = server.data / "blocks" / "node-0"
    env = lmdb.open(str(path), readonly=True, lock=False)
    try:
        # Block ids are the 32-byte keys (the main database also names the CRC database).
        with env.begin() as txn:
            return sum(1 for k in txn.cursor().iternext(values=False) if len(k) == 32)
    finally:
        env.close()


def wait_for_entries(server, want: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    n = block_entries(server)
    while n != want and time.monotonic() < deadline:
        time.sleep(0.2)
        n = block_entries(server)
    return n


def test_gc_collects_aborted_and_unused_parts(private_server):
    private_server.extra_args = ["--gc-grace", "0", "--gc-interval", "0.2"]
    private_server.start()
    s3 = make_client(private_server)
    s3.create_bucket(Bucket="gc-bucket")

    # An aborted upload: after GC, not one block is left.
    upload_id = create(s3, "gc-bucket", "aborted")
    upload_parts(s3, "gc-bucket", "aborted", upload_id, [rand(PART), rand(PART), rand(1000)])
    assert block_entries(private_server) == 5  # 4 MiB + 1 MiB per 5 MiB part, and the tail
    s3.abort_multipart_upload(Bucket="gc-bucket", Key="aborted", UploadId=upload_id)
    time.sleep(2)
    assert wait_for_entries(private_server, 0) == 0

    # A completed upload with a replaced part and a part left out of the Complete: only
    # the object's own blocks remain, and it stays readable.
    upload_id = create(s3, "gc-bucket", "done")
    put_part(s3, "gc-bucket", "done", upload_id, 1, rand(PART))  # replaced below
    p1, p3 = rand(PART), rand(3000)
    e1 = put_part(s3, "gc-bucket", "done", upload_id, 1, p1)["ETag"]
    put_part(s3, "gc-bucket", "done", upload_id, 2, rand(PART))  # not in the Complete
    e3 = put_part(s3, "gc-bucket", "done", upload_id, 3, p3)["ETag"]
    # An abandoned upload (never completed nor aborted) keeps its blocks: they are its parts.
    other = create(s3, "gc-bucket", "abandoned")
    abandoned = rand(PART)
    e_ab = put_part(s3, "gc-bucket", "abandoned", other, 1, abandoned)["ETag"]
    complete(
        s3,
        "gc-bucket",
        "done",
        upload_id,
        [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e3}],
    )
    time.sleep(2)
    # "done": 4 + 1 MiB and the tail; "abandoned": 4 + 1 MiB
    assert wait_for_entries(private_server, 3 + 2) == 3 + 2
    assert get_bytes(s3, "gc-bucket", "done") == p1 + p3
    # The abandoned upload's part is intact and completes.
    complete(s3, "gc-bucket", "abandoned", other, [{"PartNumber": 1, "ETag": e_ab}])
    assert get_bytes(s3, "gc-bucket", "abandoned") == abandoned

    # Deleting both objects frees everything.
    s3.delete_object(Bucket="gc-bucket", Key="done")
    s3.delete_object(Bucket="gc-bucket", Key="abandoned")
    time.sleep(2)
    assert wait_for_entries(private_server, 0) == 0
    s3.delete_bucket(Bucket="gc-bucket")


# --------------------------------------------------------------------- concurrency


def test_concurrent_part_uploads(s3, mp_bucket):
    key = "concurrent"
    upload_id = create(s3, mp_bucket, key)
    bodies = [rand(PART) for _ in range(10)]

    def send(n: int) -> dict:
        r = s3.upload_part(
            Bucket=mp_bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=bodies[n - 1]
        )
        return {"PartNumber": n, "ETag": r["ETag"]}

    with ThreadPoolExecutor(max_workers=10) as pool:
        parts = list(pool.map(send, range(10, 0, -1)))  # submitted last part first
    parts.sort(key=lambda p: p["PartNumber"])
    assert [p["ETag"] for p in parts] == [quoted_etag(b) for b in bodies]
    assert listed_part_numbers(s3, mp_bucket, key, upload_id) == list(range(1, 11))
    resp = complete(s3, mp_bucket, key, upload_id, parts)
    assert resp["ETag"] == mp_etag(bodies)
    got = get_bytes(s3, mp_bucket, key)
    whole = b"".join(bodies)
    assert len(got) == len(whole) and md5_hex(got) == md5_hex(whole)


def test_concurrent_completes_of_one_upload(s3, mp_bucket):
    """Two Completes racing: both answer the same object (one commits, one is the retry)."""
    key = "race"
    upload_id = create(s3, mp_bucket, key)
    bodies = [rand(PART), rand(10)]
    parts = upload_parts(s3, mp_bucket, key, upload_id, bodies)

    def go(_: int) -> str:
        try:
            return complete(s3, mp_bucket, key, upload_id, parts)["ETag"]
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(go, range(4)))
    assert mp_etag(bodies) in results
    assert set(results) <= {mp_etag(bodies), "NoSuchUpload"}, results
    assert get_bytes(s3, mp_bucket, key) == b"".join(bodies)


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_complete_checks_the_declared_object_checksum(s3, mp_bucket):
    """On Complete, x-amz-checksum-* is the whole object's checksum (COMPOSITE: with or
    without its "-N"), not the XML body's: a matching one completes, a wrong or
    malformed one is BadDigest and leaves the upload open, another algorithm than the
    upload's is InvalidRequest."""
    key = "sum/declared"
    upload_id = create(s3, mp_bucket, key, ChecksumAlgorithm="SHA256")
    bodies = [rand(PART), rand(1000)]
    parts = []
    for n, data in enumerate(bodies, 1):
        resp = put_part(s3, mp_bucket, key, upload_id, n, data, ChecksumSHA256=_sha256_b64(data))
        parts.append(
            {"PartNumber": n, "ETag": resp["ETag"], "ChecksumSHA256": resp["ChecksumSHA256"]}
        )
    digests = b"".join(hashlib.sha256(d).digest() for d in bodies)
    composite = base64.b64encode(hashlib.sha256(digests).digest()).decode()
    for wrong in ("bad", _sha256_b64(b"other") + "-2"):
        with s3_error("BadDigest", 400):
            complete(s3, mp_bucket, key, upload_id, parts, ChecksumSHA256=wrong)
    with s3_error("InvalidRequest", 400):
        complete(s3, mp_bucket, key, upload_id, parts, ChecksumCRC32=crc32_b64(b"x"))
    assert listed_part_numbers(s3, mp_bucket, key, upload_id) == [1, 2]
    assert object_absent(s3, mp_bucket, key)
    done = complete(s3, mp_bucket, key, upload_id, parts, ChecksumSHA256=composite + "-2")
    assert done["ChecksumSHA256"] == composite + "-2"
    again = complete(s3, mp_bucket, key, upload_id, parts, ChecksumSHA256=composite)
    assert again["ETag"] == done["ETag"]


def test_complete_full_object_crc32_declared(s3, mp_bucket):
    """A FULL_OBJECT CRC32 declared on Complete is the CRC of the whole object."""
    key = "sum/full-declared"
    upload_id = create(s3, mp_bucket, key, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    bodies = [rand(PART), rand(1000)]
    parts = []
    for n, data in enumerate(bodies, 1):
        resp = put_part(s3, mp_bucket, key, upload_id, n, data, ChecksumCRC32=crc32_b64(data))
        parts.append(
            {"PartNumber": n, "ETag": resp["ETag"], "ChecksumCRC32": resp["ChecksumCRC32"]}
        )
    whole = crc32_b64(b"".join(bodies))
    with s3_error("BadDigest", 400):
        complete(s3, mp_bucket, key, upload_id, parts, ChecksumCRC32=crc32_b64(b"nope"))
    done = complete(s3, mp_bucket, key, upload_id, parts, ChecksumCRC32=whole)
    assert done["ChecksumCRC32"] == whole
