"""Authentication headers at the front door: anonymous requests, SigV2 dates and bucket
resources, non-ASCII header values, and a body that overruns its Content-Length.

Requests go out raw (httpx or a socket) or through boto3 with a header hook, so each test
sends exactly the bytes it names. Every refusal also checks that nothing changed.
"""

from __future__ import annotations

import base64
import socket
import uuid
from email.utils import formatdate
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests import s3sign
from tests.integration.helpers import error_code_of, get_bytes, object_absent, object_url


def v2_client(server, **config: object):
    """boto3 signing with SigV2 (signature_version "s3"), as older tools do."""
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(
            signature_version="s3",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            **config,  # type: ignore[arg-type]
        ),
    )


def hmacv1_put(server, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """A PUT signed by botocore's SigV2 signer with ``headers`` (it adds its own Date)."""
    req = AWSRequest(method="PUT", url=url, data=body, headers=headers)
    HmacV1Auth(Credentials(server.access_key, server.secret_key)).add_auth(req)
    return httpx.put(url, headers=dict(req.headers.items()), content=body)


# --- anonymous ------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, ""], ids=["no-header", "empty-header"])
def test_unsigned_requests_are_anonymous_and_denied(server, s3, bucket, authorization):
    url = object_url(server, bucket, "anon")
    headers = {} if authorization is None else {"Authorization": authorization}
    resp = httpx.put(url, headers=headers, content=b"bar")
    assert resp.status_code == 403
    assert error_code_of(resp) == "AccessDenied"
    assert object_absent(s3, bucket, "anon")
    name = f"anon-{uuid.uuid4().hex[:12]}"
    resp = httpx.put(f"{server.endpoint}/{name}", headers=headers)
    assert (resp.status_code, error_code_of(resp)) == (403, "AccessDenied")
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


# --- SigV2 --------------------------------------------------------------------------------


@pytest.mark.parametrize("user_agent", ["", None], ids=["empty", "absent"])
def test_sigv2_create_bucket(server, s3, user_agent):
    """botocore signs a bucket-only SigV2 request on "/bucket/" and sends "/bucket"."""
    client = v2_client(server)

    def set_user_agent(params, **_):
        params["headers"].pop("User-Agent", None)
        if user_agent is not None:
            params["headers"]["User-Agent"] = user_agent

    client.meta.events.register("before-call.s3.CreateBucket", set_user_agent)
    name = f"v2-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    try:
        assert name in {b["Name"] for b in s3.list_buckets()["Buckets"]}
        client.put_object(Bucket=name, Key="k", Body=b"v2")
        assert get_bytes(s3, name, "k") == b"v2"
    finally:
        s3.delete_object(Bucket=name, Key="k")
        s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize(
    ("amz_date", "status", "code"),
    [
        ("", 403, "AccessDenied"),
        ("Bad Date", 403, "AccessDenied"),
        ("Tue, 07 Jul 1950 21:53:04 GMT", 403, "AccessDenied"),
        ("Tue, 07 Jul 2010 21:53:04 GMT", 403, "RequestTimeTooSkewed"),
        ("Tue, 07 Jul 9999 21:53:04 GMT", 403, "RequestTimeTooSkewed"),
    ],
    ids=["empty", "unreadable", "before-epoch", "past", "far-future"],
)
def test_sigv2_x_amz_date_wins_over_date(server, s3, bucket, amz_date, status, code):
    """x-amz-date, when present, is the request time even if a good Date comes along."""
    url = object_url(server, bucket, "dated")
    resp = hmacv1_put(server, url, b"bar", {"x-amz-date": amz_date})
    assert (resp.status_code, error_code_of(resp)) == (status, code)
    assert object_absent(s3, bucket, "dated")
    # The same request with a good x-amz-date is accepted.
    resp = hmacv1_put(server, url, b"bar", {"x-amz-date": formatdate(usegmt=True)})
    assert resp.status_code == 200, resp.text


# --- non-ASCII header values ----------------------------------------------------------------


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_non_ascii_metadata_is_signed_over_its_bytes(server, s3, bucket, signature_version):
    """botocore sends a non-ASCII header value as UTF-8 and signs those bytes."""
    client = (
        v2_client(server)
        if signature_version == "s3"
        else boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
        )
    )
    value = "Hello World\xe9 €"

    def set_metadata(params, **_):
        params["headers"]["x-amz-meta-meta1"] = value

    client.meta.events.register("before-call.s3.PutObject", set_metadata)
    client.put_object(Bucket=bucket, Key="uni", Body=b"bar")
    # Returned as S3 returns a non-ASCII value: an RFC 2047 word of the UTF-8 of the bytes
    # received read as ISO-8859-1 (so the UTF-8 sent comes back encoded twice).
    expected = "=?UTF-8?B?" + base64.b64encode(value.encode().decode("latin-1").encode()).decode()
    expected += "?="
    for method in ("head_object", "get_object"):
        url = s3.generate_presigned_url(method, {"Bucket": bucket, "Key": "uni"})
        resp = httpx.request("HEAD" if method == "head_object" else "GET", url)
        assert resp.status_code == 200
        stored = [v for k, v in resp.headers.raw if k.lower() == b"x-amz-meta-meta1"]
        assert stored == [expected.encode("ascii")]
    assert s3.head_object(Bucket=bucket, Key="uni")["Metadata"] == {"meta1": expected}


# --- body overrunning its Content-Length ------------------------------------------------------


def test_body_longer_than_content_length_gets_its_answer(server, s3, bucket):
    """The answer to the request comes first; the stray byte then ends the connection."""
    url = object_url(server, bucket, "short")
    headers = s3sign.sign_headers(
        "PUT",
        url,
        access_key=server.access_key,
        secret_key=server.secret_key,
        payload="UNSIGNED-PAYLOAD",
        headers={"x-amz-checksum-crc32": s3sign.checksum_b64("crc32", b"bar")},
    )
    head = f"PUT {urlsplit(url).path} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += "Content-Length: 2\r\n\r\n"
    parts = urlsplit(server.endpoint)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"bar")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert b"<Code>BadDigest</Code>" in rest
    assert b"connection: close" in rest.lower()
    assert received.count(b"HTTP/1.1 ") == 1
    assert object_absent(s3, bucket, "short")
