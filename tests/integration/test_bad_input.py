"""Bad input gets AWS's answer and changes nothing (issue 14, "Bad input"): keys that are
not UTF-8 on writes, storage classes, a signed header the request lacks. (The
connection-level cases, 411 and absolute-form targets, are in test_limits.py.)"""

from __future__ import annotations

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.integration.helpers import (
    error_code_of,
    get_bytes,
    headers_of,
    object_absent,
    parse_xml,
    s3_error,
    signed_request,
)


def _keys(s3, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_put_and_delete_of_a_key_that_is_not_utf8_are_invalid_uri(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="\ufffd-", Body=b"kept")
    for method in ("PUT", "DELETE"):
        r = signed_request(server, method, f"{server.endpoint}/{bucket}/%FF-", body=b"x")
        assert r.status_code == 400, r.text
        assert error_code_of(r) == "InvalidURI"
    # Not stored under some other name, nor the look-alike deleted.
    assert _keys(s3, bucket) == ["\ufffd-"]
    assert get_bytes(s3, bucket, "\ufffd-") == b"kept"


@pytest.mark.parametrize("storage_class", ["STANDARD_IA", "REDUCED_REDUNDANCY", "GLACIER_IR"])
def test_storage_class_is_stored_and_echoed(s3, bucket, storage_class):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", StorageClass=storage_class)
    assert s3.head_object(Bucket=bucket, Key="k")["StorageClass"] == storage_class
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["StorageClass"] == storage_class
    assert got["Body"].read() == b"v"


def test_standard_storage_class_is_not_echoed(s3, bucket):
    """As S3: STANDARD is the absence of the header."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", StorageClass="STANDARD")
    assert "x-amz-storage-class" not in headers_of(s3.head_object(Bucket=bucket, Key="k"))


@pytest.mark.parametrize("storage_class", ["FOO", "standard", "GLACIER", "DEEP_ARCHIVE"])
def test_storage_class_cairn_does_not_offer_is_refused(s3, bucket, storage_class):
    s3.put_object(Bucket=bucket, Key="old", Body=b"old")
    with s3_error("InvalidStorageClass", 400):
        s3.put_object(Bucket=bucket, Key="new", Body=b"v", StorageClass=storage_class)
    with s3_error("InvalidStorageClass", 400):
        s3.put_object(Bucket=bucket, Key="old", Body=b"v", StorageClass=storage_class)
    with s3_error("InvalidStorageClass", 400):
        s3.create_multipart_upload(Bucket=bucket, Key="mp", StorageClass=storage_class)
    assert object_absent(s3, bucket, "new")
    assert get_bytes(s3, bucket, "old") == b"old"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_signed_header_missing_from_the_request_fails_the_signature(server, s3, bucket):
    """A header signed with a value and then not sent: SignatureDoesNotMatch (AWS signs an
    absent header as empty), and nothing is written."""
    url = f"{server.endpoint}/{bucket}/k"
    r = signed_request(server, "PUT", url, headers={"x-amz-meta-a": "1"}, body=b"v")
    assert r.status_code == 200
    sent = dict(r.request.headers)
    sent.pop("x-amz-meta-a")
    with httpx.Client(timeout=30) as client:
        r2 = client.put(url, headers=sent, content=b"v")
    assert r2.status_code == 403
    assert error_code_of(r2) == "SignatureDoesNotMatch"
    # Had it been stored, the object would have lost its metadata.
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"a": "1"}


def test_credential_scope_of_another_region(server, s3, bucket):
    """AuthorizationHeaderMalformed naming the server's region in <Region>, as AWS; boto3
    configured for another region learns the right one from it and re-signs."""
    url = f"{server.endpoint}/{bucket}/k"
    req = AWSRequest(method="PUT", url=url, data=b"v")
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", "eu-west-1").add_auth(req)
    with httpx.Client(timeout=30, verify=False) as client:
        r = client.put(url, headers=dict(req.prepare().headers.items()), content=b"v")
    assert r.status_code == 400
    root = parse_xml(r.content)
    assert root.findtext("Code") == "AuthorizationHeaderMalformed"
    assert root.findtext("Message") == (
        "The authorization header is malformed; the region 'eu-west-1' is wrong; "
        "expecting 'us-east-1'"
    )
    assert root.findtext("Region") == "us-east-1"
    assert object_absent(s3, bucket, "k")

    elsewhere = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="eu-west-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        verify=False,
    )
    elsewhere.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert get_bytes(s3, bucket, "k") == b"v"
