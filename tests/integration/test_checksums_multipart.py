"""Multipart checksums part by part: what a completed object tells about each of its parts.

A multipart upload made with a checksum algorithm keeps every part's checksum: GET and
HEAD with ?partNumber answer that part's checksum and the object's checksum type (with
x-amz-checksum-mode: ENABLED), and GetObjectAttributes lists it in each ObjectParts row.
The expected values are computed here from the bytes sent, independently of the server.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import zlib

import crc32c
import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.helpers import object_absent, s3_error


@pytest.fixture
def mp_bucket(s3, bucket):
    """`bucket`, with every open upload aborted before the bucket fixture deletes it."""
    yield bucket
    for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        with contextlib.suppress(ClientError):
            s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])


PART = 5 * 1024 * 1024  # every part but the last must be at least 5 MiB
BODIES = [b"A" * PART, b"B" * 1000]


def digest(algorithm: str, data: bytes) -> bytes:
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return crc32c.crc32c(data).to_bytes(4, "big")
    if algorithm == "CRC64NVME":
        return crt.crc64nvme(data).to_bytes(8, "big")
    return hashlib.new(algorithm.lower(), data).digest()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def object_checksum(algorithm: str, checksum_type: str, parts: list[bytes]) -> str:
    """FULL_OBJECT: the checksum of all the bytes; COMPOSITE: the checksum of the parts'
    digests, then "-" and the part count."""
    if checksum_type == "FULL_OBJECT":
        return b64(digest(algorithm, b"".join(parts)))
    inner = digest(algorithm, b"".join(digest(algorithm, p) for p in parts))
    return f"{b64(inner)}-{len(parts)}"


def upload(s3, bucket: str, key: str, algorithm: str, checksum_type: str, **part_args) -> dict:
    created = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, ChecksumType=checksum_type
    )
    uid = created["UploadId"]
    done = []
    for n, body in enumerate(BODIES, start=1):
        r = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=body, **part_args
        )
        done.append(
            {"PartNumber": n, "ETag": r["ETag"], f"Checksum{algorithm}": r[f"Checksum{algorithm}"]}
        )
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": done}
    )


CASES = [
    ("SHA256", "COMPOSITE"),
    ("SHA1", "COMPOSITE"),
    ("CRC32", "COMPOSITE"),
    ("CRC32", "FULL_OBJECT"),
    ("CRC32C", "FULL_OBJECT"),
    ("CRC64NVME", "FULL_OBJECT"),
]


@pytest.mark.parametrize(("algorithm", "checksum_type"), CASES)
def test_each_part_keeps_its_checksum(s3, mp_bucket, algorithm, checksum_type):
    field = f"Checksum{algorithm}"
    done = upload(s3, mp_bucket, "obj", algorithm, checksum_type, ChecksumAlgorithm=algorithm)
    whole = object_checksum(algorithm, checksum_type, BODIES)
    assert (done["ChecksumType"], done[field]) == (checksum_type, whole)

    head = s3.head_object(Bucket=mp_bucket, Key="obj", ChecksumMode="ENABLED")
    assert (head["ChecksumType"], head[field]) == (checksum_type, whole)
    for n, body in enumerate(BODIES, start=1):
        part = s3.get_object(Bucket=mp_bucket, Key="obj", PartNumber=n, ChecksumMode="ENABLED")
        assert part["Body"].read() == body
        assert (part["ChecksumType"], part[field]) == (checksum_type, b64(digest(algorithm, body)))
        part_head = s3.head_object(
            Bucket=mp_bucket, Key="obj", PartNumber=n, ChecksumMode="ENABLED"
        )
        assert part_head[field] == b64(digest(algorithm, body))

    attrs = s3.get_object_attributes(
        Bucket=mp_bucket, Key="obj", ObjectAttributes=["Checksum", "ObjectParts"]
    )
    # GetObjectAttributes gives a COMPOSITE value without its "-N", as AWS does.
    assert attrs["Checksum"] == {field: whole.split("-")[0], "ChecksumType": checksum_type}
    rows = attrs["ObjectParts"]["Parts"]
    assert [(r["PartNumber"], r["Size"], r[field]) for r in rows] == [
        (n, len(body), b64(digest(algorithm, body))) for n, body in enumerate(BODIES, start=1)
    ]


def test_full_object_part_without_checksum_gets_it_computed(server, mp_bucket):
    """A FULL_OBJECT upload's part sent without a checksum (botocore's "when_required")
    gets the upload's algorithm's checksum, and the object its combined CRC."""
    s3 = make_client(server, request_checksum_calculation="when_required")
    created = s3.create_multipart_upload(
        Bucket=mp_bucket, Key="k", ChecksumAlgorithm="CRC32C", ChecksumType="FULL_OBJECT"
    )
    uid = created["UploadId"]
    r = s3.upload_part(Bucket=mp_bucket, Key="k", UploadId=uid, PartNumber=1, Body=BODIES[1])
    assert r["ChecksumCRC32C"] == b64(digest("CRC32C", BODIES[1]))
    done = s3.complete_multipart_upload(
        Bucket=mp_bucket,
        Key="k",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]},
    )
    assert done["ChecksumCRC32C"] == object_checksum("CRC32C", "FULL_OBJECT", [BODIES[1]])


def test_part_of_another_algorithm_is_refused(server, mp_bucket):
    """AWS's "Checksum Type mismatch": a part of a SHA256 upload sent with a CRC32
    checksum, or (COMPOSITE) with none, is refused and not stored."""
    s3 = make_client(server, request_checksum_calculation="when_required")
    uid = s3.create_multipart_upload(Bucket=mp_bucket, Key="k", ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    for args, actual in (({"ChecksumAlgorithm": "CRC32"}, "crc32"), ({}, "null")):
        with s3_error("InvalidRequest", 400) as caught:
            s3.upload_part(Bucket=mp_bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x", **args)
        assert caught.value.response["Error"]["Message"] == (
            "Checksum Type mismatch occurred, expected checksum Type: sha256, "
            f"actual checksum Type: {actual}"
        )
    assert s3.list_parts(Bucket=mp_bucket, Key="k", UploadId=uid).get("Parts", []) == []


def test_composite_complete_must_name_each_part_checksum(s3, mp_bucket):
    """A COMPOSITE upload's Complete lists every part's checksum (InvalidRequest
    otherwise), and a checksum upload's part numbers start at 1 and follow each other
    (InvalidPartOrder); a refused Complete leaves the upload open and no object."""
    uid = s3.create_multipart_upload(Bucket=mp_bucket, Key="k", ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    parts = []
    for n in (1, 3):
        r = s3.upload_part(
            Bucket=mp_bucket,
            Key="k",
            UploadId=uid,
            PartNumber=n,
            Body=BODIES[1],
            ChecksumAlgorithm="SHA256",
        )
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    with s3_error("InvalidPartOrder", 400):
        s3.complete_multipart_upload(
            Bucket=mp_bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": parts[1:]}
        )
    bare = [{"PartNumber": 1, "ETag": parts[0]["ETag"]}]
    with s3_error("InvalidRequest", 400) as caught:
        s3.complete_multipart_upload(
            Bucket=mp_bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": bare}
        )
    assert caught.value.response["Error"]["Message"] == (
        "The upload was created using a sha256 checksum. The complete request must include "
        "the checksum for each part. It was missing for part 1 in the request."
    )
    assert object_absent(s3, mp_bucket, "k")
    done = s3.complete_multipart_upload(
        Bucket=mp_bucket, Key="k", UploadId=uid, MultipartUpload={"Parts": parts[:1]}
    )
    assert done["ChecksumSHA256"] == object_checksum("SHA256", "COMPOSITE", [BODIES[1]])


def test_upload_without_algorithm_has_no_part_checksums(s3, mp_bucket):
    """Parts of an upload made without an algorithm: the object and its parts show none."""
    uid = s3.create_multipart_upload(Bucket=mp_bucket, Key="plain")["UploadId"]
    r = s3.upload_part(Bucket=mp_bucket, Key="plain", UploadId=uid, PartNumber=1, Body=b"x")
    s3.complete_multipart_upload(
        Bucket=mp_bucket,
        Key="plain",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]},
    )
    part = s3.head_object(Bucket=mp_bucket, Key="plain", PartNumber=1, ChecksumMode="ENABLED")
    assert not [h for h in part["ResponseMetadata"]["HTTPHeaders"] if "x-amz-checksum" in h]
    rows = s3.get_object_attributes(
        Bucket=mp_bucket, Key="plain", ObjectAttributes=["ObjectParts"]
    )["ObjectParts"]["Parts"]
    assert rows == [{"PartNumber": 1, "Size": 1}]


@pytest.mark.parametrize("algorithm", ["SHA256", "CRC64NVME"])
def test_malformed_checksum_is_invalid_request_not_bad_digest(s3, bucket, algorithm):
    """A value that is not base64 of a digest is AWS's InvalidRequest ("Value for
    x-amz-checksum-... header is invalid."); the Ceph suite's test_object_checksum_*
    expect BadDigest (tests/conformance/SELECTION.md). Nothing is stored."""
    with s3_error("InvalidRequest", 400) as caught:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"A" * 1024, **{f"Checksum{algorithm}": "bad"})
    message = caught.value.response["Error"]["Message"]
    assert message == f"Value for x-amz-checksum-{algorithm.lower()} header is invalid."
    assert object_absent(s3, bucket, "bad")
