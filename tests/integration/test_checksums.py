"""Flexible checksums: CRC32, CRC32C, SHA1, SHA256, CRC64NVME; headers and aws-chunked trailers."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest

from tests.integration.helpers import (
    get_bytes,
    headers_of,
    object_absent,
    parse_xml,
    quoted_etag,
    raw_signed,
    s3_error,
)

try:
    from awscrt import checksums as crt_checksums
except ImportError:  # pragma: no cover - awscrt is a declared dependency
    crt_checksums = None


def _b64(n: int, width: int) -> str:
    return base64.b64encode(n.to_bytes(width, "big")).decode()


def expected_checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "CRC32":
        return _b64(zlib.crc32(data) & 0xFFFFFFFF, 4)
    if algorithm == "CRC32C":
        import crc32c

        return _b64(crc32c.crc32c(data), 4)
    if algorithm == "SHA1":
        return base64.b64encode(hashlib.sha1(data).digest()).decode()
    if algorithm == "SHA256":
        return base64.b64encode(hashlib.sha256(data).digest()).decode()
    if algorithm == "CRC64NVME":
        assert crt_checksums is not None
        return _b64(crt_checksums.crc64nvme(data), 8)
    raise AssertionError(algorithm)


def supported_algorithms(s3) -> list[str]:
    shape = s3.meta.service_model.operation_model("PutObject").input_shape
    enum = shape.members["ChecksumAlgorithm"].enum
    wanted = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]
    return [a for a in wanted if a in enum and (a != "CRC64NVME" or crt_checksums is not None)]


ALGORITHMS = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]


def _require(s3, algorithm: str) -> None:
    if algorithm not in supported_algorithms(s3):
        pytest.skip(f"installed botocore cannot send {algorithm}")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("size", [0, 1000, 5 * 1024 * 1024 + 3])
def test_checksum_put_and_get(s3, bucket, algorithm, size):
    _require(s3, algorithm)
    body = os.urandom(size)
    want = expected_checksum(algorithm, body)
    member = f"Checksum{algorithm}"
    put = s3.put_object(Bucket=bucket, Key="ck", Body=body, ChecksumAlgorithm=algorithm)
    assert put["ETag"] == quoted_etag(body)
    assert put.get(member) == want, headers_of(put)

    got = s3.get_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert got.get(member) == want, headers_of(got)
    assert got["Body"].read() == body
    head = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert head.get(member) == want, headers_of(head)
    assert headers_of(head)[f"x-amz-checksum-{algorithm.lower()}"] == want


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checksum_explicit_correct_value(s3, bucket, algorithm):
    _require(s3, algorithm)
    body = b"explicit checksum body"
    want = expected_checksum(algorithm, body)
    put = s3.put_object(Bucket=bucket, Key="ex", Body=body, **{f"Checksum{algorithm}": want})
    assert put.get(f"Checksum{algorithm}") == want
    head = s3.head_object(Bucket=bucket, Key="ex", ChecksumMode="ENABLED")
    assert head.get(f"Checksum{algorithm}") == want


def test_wrong_crc32_is_bad_digest(s3, bucket):
    with s3_error("BadDigest", 400):
        s3.put_object(Bucket=bucket, Key="bad", Body=b"some bytes", ChecksumCRC32="AAAAAA==")
    assert object_absent(s3, bucket, "bad")


@pytest.mark.parametrize("algorithm", ["CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_wrong_checksum_other_algorithms(s3, bucket, algorithm):
    _require(s3, algorithm)
    wrong = expected_checksum(algorithm, b"different bytes")
    with s3_error("BadDigest", 400):
        s3.put_object(
            Bucket=bucket, Key="bad", Body=b"some bytes", **{f"Checksum{algorithm}": wrong}
        )
    assert object_absent(s3, bucket, "bad")


def test_wrong_checksum_leaves_existing_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"original")
    with s3_error("BadDigest", 400):
        s3.put_object(Bucket=bucket, Key="keep", Body=b"replaced", ChecksumCRC32="AAAAAA==")
    assert get_bytes(s3, bucket, "keep") == b"original"


def test_wrong_checksum_large_body(s3, bucket):
    body = os.urandom(9 * 1024 * 1024)
    wrong = expected_checksum("SHA256", body[1:])
    with s3_error("BadDigest", 400):
        s3.put_object(Bucket=bucket, Key="bigbad", Body=body, ChecksumSHA256=wrong)
    assert object_absent(s3, bucket, "bigbad")


# --- TLS: botocore streams the body aws-chunked with the checksum in a trailer ---------------


@pytest.fixture
def tls_bucket(s3_tls):
    name = f"tls-{os.urandom(6).hex()}"
    s3_tls.create_bucket(Bucket=name)
    yield name
    for obj in s3_tls.list_objects_v2(Bucket=name).get("Contents", []):
        s3_tls.delete_object(Bucket=name, Key=obj["Key"])
    s3_tls.delete_bucket(Bucket=name)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tls_trailer_checksum_round_trip(s3_tls, tls_bucket, algorithm):
    _require(s3_tls, algorithm)
    body = os.urandom(300 * 1024 + 17)
    want = expected_checksum(algorithm, body)
    put = s3_tls.put_object(Bucket=tls_bucket, Key="t", Body=body, ChecksumAlgorithm=algorithm)
    assert put["ETag"] == quoted_etag(body)
    assert put.get(f"Checksum{algorithm}") == want
    got = s3_tls.get_object(Bucket=tls_bucket, Key="t", ChecksumMode="ENABLED")
    data = got["Body"].read()
    assert hashlib.md5(data).digest() == hashlib.md5(body).digest()
    assert got["ContentLength"] == len(body)
    assert got.get(f"Checksum{algorithm}") == want
    assert "aws-chunked" not in got.get("ContentEncoding", "")
    head = s3_tls.head_object(Bucket=tls_bucket, Key="t", ChecksumMode="ENABLED")
    assert "aws-chunked" not in head.get("ContentEncoding", "")
    assert head["ContentLength"] == len(body)
    listed = s3_tls.list_objects_v2(Bucket=tls_bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("t", len(body))]


@pytest.mark.parametrize("size", [0, 1, 8192, 9 * 1024 * 1024])
def test_tls_default_checksum_sizes(s3_tls, tls_bucket, size):
    # Without ChecksumAlgorithm, current botocore still sends a CRC32 trailer over TLS.
    body = os.urandom(size)
    put = s3_tls.put_object(Bucket=tls_bucket, Key="d", Body=body)
    assert put["ETag"] == quoted_etag(body)
    got = s3_tls.get_object(Bucket=tls_bucket, Key="d")
    assert got["ContentLength"] == size
    assert hashlib.md5(got["Body"].read()).digest() == hashlib.md5(body).digest()
    assert "aws-chunked" not in got.get("ContentEncoding", "")


def test_tls_content_encoding_kept_without_aws_chunked(s3_tls, tls_bucket):
    body = zlib.compress(b"compressible " * 1000)
    s3_tls.put_object(
        Bucket=tls_bucket,
        Key="gz",
        Body=body,
        ContentEncoding="gzip",
        ContentType="text/plain",
        ChecksumAlgorithm="SHA256",
    )
    head = s3_tls.head_object(Bucket=tls_bucket, Key="gz")
    assert head["ContentEncoding"] == "gzip"
    assert head["ContentLength"] == len(body)
    assert get_bytes(s3_tls, tls_bucket, "gz") == body


def test_tls_wrong_checksum_is_bad_digest(s3_tls, tls_bucket):
    with s3_error("BadDigest", 400):
        s3_tls.put_object(Bucket=tls_bucket, Key="bad", Body=b"abc", ChecksumCRC32="AAAAAA==")
    assert object_absent(s3_tls, tls_bucket, "bad")


def aws_chunked(body: bytes, trailer_value: str, chunk: int = 64 * 1024) -> bytes:
    out = b""
    for i in range(0, len(body), chunk):
        part = body[i : i + chunk]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    out += b"0\r\n" + f"x-amz-checksum-crc32:{trailer_value}\r\n\r\n".encode()
    return out


def put_chunked(server, bucket, key, body, trailer_value):
    payload = aws_chunked(body, trailer_value)
    return raw_signed(
        server,
        "PUT",
        bucket,
        key,
        body=payload,
        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        headers={
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(body)),
            "x-amz-trailer": "x-amz-checksum-crc32",
            "Content-Length": str(len(payload)),
        },
    )


def test_raw_aws_chunked_trailer(tls_server, s3_tls, tls_bucket):
    body = os.urandom(200 * 1024 + 5)
    resp = put_chunked(tls_server, tls_bucket, "raw", body, expected_checksum("CRC32", body))
    assert resp.status_code == 200, resp.text
    assert resp.headers["etag"] == quoted_etag(body)
    assert get_bytes(s3_tls, tls_bucket, "raw") == body
    head = s3_tls.head_object(Bucket=tls_bucket, Key="raw", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(body)
    assert head.get("ChecksumCRC32") == expected_checksum("CRC32", body)
    assert "aws-chunked" not in head.get("ContentEncoding", "")


def test_raw_aws_chunked_wrong_trailer(tls_server, s3_tls, tls_bucket):
    body = os.urandom(100 * 1024)
    resp = put_chunked(tls_server, tls_bucket, "rawbad", body, "AAAAAA==")
    assert resp.status_code == 400, resp.text
    assert parse_xml(resp.content).findtext("Code") == "BadDigest"
    assert object_absent(s3_tls, tls_bucket, "rawbad")
