"""Writes whose metadata does not fit one transaction, through the S3 API.

Objects of more than 32 distinct blocks (128 MiB) are committed in stages (meta.journal),
so that every metadata transaction stays within etcd's default limits; on the etcd-cluster
target that is a real etcd running with those limits, which refuses anything larger.
"""

from __future__ import annotations

import hashlib
import os

from tests.integration.helpers import get_bytes, object_absent, s3_error, unique

MiB = 1024 * 1024


def body_of(n_blocks: int) -> bytes:
    """n_blocks distinct 4 MiB blocks and a tail, without paying os.urandom for all of it."""
    base = os.urandom(4 * MiB)
    out = bytearray()
    for i in range(n_blocks):
        block = bytearray(base)
        block[:8] = i.to_bytes(8, "big")
        out += block
    return bytes(out + os.urandom(123))


def test_put_get_overwrite_delete_of_a_staged_object(s3, bucket) -> None:
    key = unique("staged")
    body = body_of(36)
    resp = s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert resp["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert hashlib.md5(get_bytes(s3, bucket, key)).digest() == hashlib.md5(body).digest()
    tail = s3.get_object(Bucket=bucket, Key=key, Range="bytes=-200")["Body"].read()
    assert tail == body[-200:]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [(key, len(body))]

    # A copy takes new references to all 37 blocks: staged as well.
    copy = unique("staged-copy")
    s3.copy_object(Bucket=bucket, Key=copy, CopySource={"Bucket": bucket, "Key": key})
    assert hashlib.md5(get_bytes(s3, bucket, copy)).digest() == hashlib.md5(body).digest()

    # Overwrite (the staged version is released through the journal) and delete.
    s3.put_object(Bucket=bucket, Key=key, Body=b"small now")
    assert get_bytes(s3, bucket, key) == b"small now"
    assert get_bytes(s3, bucket, copy)[:8] == body[:8]  # the copy keeps the shared blocks
    s3.delete_object(Bucket=bucket, Key=copy)
    assert object_absent(s3, bucket, copy)


def test_multipart_with_a_staged_part(s3, bucket) -> None:
    key = unique("staged-mp")
    big = body_of(34)
    small = os.urandom(5 * MiB)
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=big)["ETag"]
    # Uploading part 1 again replaces a part of 35 blocks (released through the journal).
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=big)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=2, Body=small)["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    got = get_bytes(s3, bucket, key)
    assert hashlib.md5(got).digest() == hashlib.md5(big + small).digest()
    with s3_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key=key, UploadId=up)

    # An aborted upload with a staged part leaves nothing behind.
    up2 = s3.create_multipart_upload(Bucket=bucket, Key=key + "-aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key + "-aborted", UploadId=up2, PartNumber=1, Body=big)
    s3.abort_multipart_upload(Bucket=bucket, Key=key + "-aborted", UploadId=up2)
    assert object_absent(s3, bucket, key + "-aborted")
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert up2 not in [u["UploadId"] for u in uploads]
