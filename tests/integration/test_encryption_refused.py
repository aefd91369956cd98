"""Server-side encryption is refused, never ignored (issue 17, "Refuse first"): Cairn does
not encrypt yet, so a request that asks for SSE-S3, SSE-KMS or SSE-C gets NotImplemented
naming the header, and nothing is written."""

from __future__ import annotations

import base64
import hashlib

import requests

from tests.integration.helpers import get_bytes, object_absent, s3_error

KEY = b"k" * 32
SSE_C = {
    "SSECustomerAlgorithm": "AES256",
    "SSECustomerKey": base64.b64encode(KEY).decode(),
    "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(KEY).digest()).decode(),
}


def test_put_with_any_encryption_is_refused_and_stores_nothing(s3, bucket):
    for extra in (
        {"ServerSideEncryption": "AES256"},
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "my-key"},
        {"ServerSideEncryption": "aws:kms", "BucketKeyEnabled": True},
        SSE_C,
    ):
        with s3_error("NotImplemented", 501) as caught:
            s3.put_object(Bucket=bucket, Key="secret", Body=b"plaintext", **extra)
        assert caught.value.response["Error"]["Header"].startswith("x-amz-server-side-encryption")
        assert object_absent(s3, bucket, "secret")


def test_copy_multipart_and_reads_with_encryption_are_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    source = {"Bucket": bucket, "Key": "plain"}
    with s3_error("NotImplemented", 501):
        s3.copy_object(Bucket=bucket, Key="copy", CopySource=source, ServerSideEncryption="AES256")
    with s3_error("NotImplemented", 501):
        s3.copy_object(Bucket=bucket, Key="copy", CopySource=source, **SSE_C)
    assert object_absent(s3, bucket, "copy")
    with s3_error("NotImplemented", 501):
        s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms")
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    with s3_error("NotImplemented", 501):
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"x", **SSE_C)
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)
    with s3_error("NotImplemented", 501):
        s3.get_object(Bucket=bucket, Key="plain", **SSE_C)
    assert get_bytes(s3, bucket, "plain") == b"plain"  # without SSE headers, as stored


def test_a_browser_form_asking_for_encryption_is_refused(s3, bucket):
    fields = {"x-amz-server-side-encryption": "AES256"}
    conditions = [{"x-amz-server-side-encryption": "AES256"}]
    post = s3.generate_presigned_post(bucket, "form", Fields=fields, Conditions=conditions)
    resp = requests.post(post["url"], data=post["fields"], files={"file": b"plaintext"}, timeout=30)
    assert resp.status_code == 501 and b"<Code>NotImplemented</Code>" in resp.content
    assert object_absent(s3, bucket, "form")
