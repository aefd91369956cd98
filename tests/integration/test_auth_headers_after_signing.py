"""The Ceph suite's bad-Authorization cases, sent as the suite means them.

The suite changes headers in botocore's ``before-call`` hook, which runs before signing:
botocore's signers then replace Authorization and Date, so those requests reach the
server well signed and succeed on any S3 (tests/conformance/SELECTION.md). Here the
header is changed *after* signing, so the server really sees it, and each refusal is
AWS's answer; nothing is created.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from botocore.auth import HmacV1Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.integration.helpers import error_code_of, object_absent, object_url


def signed_put(server, url: str, body: bytes, *, v2: bool) -> dict[str, str]:
    """The headers botocore's SigV2 (HmacV1) or SigV4 signer gives a PUT of ``body``."""
    req = AWSRequest(method="PUT", url=url, data=body, headers={})
    creds = Credentials(server.access_key, server.secret_key)
    if v2:
        HmacV1Auth(creds).add_auth(req)
    else:
        req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def bucket_exists(s3, name: str) -> bool:
    return name in {b["Name"] for b in s3.list_buckets()["Buckets"]}


CASES = [
    # (Authorization after signing, status, code): AWS's answers
    ("AWS HAHAHA", 400, "InvalidArgument"),
    ("AWS AKIAIGR7ZNNBHC5BKSUB:FWeDfwojDSdS2Ztmpfeubhd9isU=", 403, "InvalidAccessKeyId"),
    ("", 403, "AccessDenied"),  # an empty header is no signature: anonymous, refused
    (None, 403, "AccessDenied"),  # no header at all: anonymous, refused
]


@pytest.mark.parametrize(("authorization", "status", "code"), CASES)
@pytest.mark.parametrize("v2", [True, False], ids=["sigv2", "sigv4"])
def test_replaced_authorization_is_refused(server, s3, bucket, authorization, status, code, v2):
    url = object_url(server, bucket, "foo")
    headers = signed_put(server, url, b"bar", v2=v2)
    headers.pop("Authorization")
    if authorization is not None:
        headers["Authorization"] = authorization
    resp = httpx.put(url, headers=headers, content=b"bar")
    assert (resp.status_code, error_code_of(resp)) == (status, code)
    assert object_absent(s3, bucket, "foo")

    name = f"auth-{uuid.uuid4().hex[:12]}"
    bucket_url = f"{server.endpoint}/{name}"
    headers = signed_put(server, bucket_url, b"", v2=v2)
    headers.pop("Authorization")
    if authorization is not None:
        headers["Authorization"] = authorization
    resp = httpx.put(bucket_url, headers=headers)
    assert (resp.status_code, error_code_of(resp)) == (status, code)
    assert not bucket_exists(s3, name)


def test_sigv2_without_any_date_is_refused(server, s3, bucket):
    """SigV2 signs Date; a request that carries neither Date nor x-amz-date is refused
    (403 AccessDenied), however it was signed."""
    url = object_url(server, bucket, "foo")
    headers = signed_put(server, url, b"bar", v2=True)
    headers.pop("Date")
    resp = httpx.put(url, headers=headers, content=b"bar")
    assert (resp.status_code, error_code_of(resp)) == (403, "AccessDenied")
    assert "Date or x-amz-date" in resp.text
    assert object_absent(s3, bucket, "foo")


def test_sigv2_with_a_date_signs_and_stores(server, s3, bucket):
    """The control: the same signed headers, untouched, store the object."""
    url = object_url(server, bucket, "foo")
    headers = signed_put(server, url, b"bar", v2=True)
    assert "Date" in headers
    resp = httpx.put(url, headers=headers, content=b"bar")
    assert resp.status_code == 200
    assert s3.get_object(Bucket=bucket, Key="foo")["Body"].read() == b"bar"
