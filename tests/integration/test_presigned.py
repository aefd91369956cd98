"""Presigned URLs (botocore's default and s3v4) used by a plain HTTP client."""

from __future__ import annotations

import os
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from tests.conftest import make_client
from tests.integration.helpers import get_bytes, object_absent, parse_xml, quoted_etag

CONFIGS = {
    "default": {},
    "s3v4": {"signature_version": "s3v4"},
}


@pytest.fixture(params=list(CONFIGS), ids=list(CONFIGS))
def signer(request, server):
    return make_client(server, **CONFIGS[request.param])


def test_presigned_get(signer, s3, bucket):
    body = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="p/get me", Body=body, ContentType="text/x-p")
    url = signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "p/get me"}, ExpiresIn=300
    )
    resp = httpx.get(url)
    assert resp.status_code == 200, resp.text
    assert resp.content == body
    assert resp.headers["etag"] == quoted_etag(body)
    assert resp.headers["content-type"] == "text/x-p"


def test_presigned_head_and_range(signer, s3, bucket):
    body = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    url = signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "r"}, ExpiresIn=300
    )
    resp = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert resp.status_code == 206
    assert resp.content == body[10:20]


def test_presigned_put(signer, s3, bucket):
    body = os.urandom(5000)
    url = signer.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "p/put ü"}, ExpiresIn=300
    )
    resp = httpx.put(url, content=body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["etag"] == quoted_etag(body)
    assert get_bytes(s3, bucket, "p/put ü") == body


def test_presigned_put_with_signed_content_type(signer, s3, bucket):
    url = signer.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": "typed", "ContentType": "image/png"},
        ExpiresIn=300,
    )
    resp = httpx.put(url, content=b"\x89PNG", headers={"Content-Type": "image/png"})
    assert resp.status_code == 200, resp.text
    assert s3.head_object(Bucket=bucket, Key="typed")["ContentType"] == "image/png"


def test_presigned_special_key(signer, s3, bucket):
    key = "dir/a+b c%d?e#f&g=h~ü"
    s3.put_object(Bucket=bucket, Key=key, Body=b"special")
    url = signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    resp = httpx.get(url)
    assert resp.status_code == 200, resp.text
    assert resp.content == b"special"


def test_presigned_expired(signer, s3, bucket):
    s3.put_object(Bucket=bucket, Key="exp", Body=b"x")
    get_url = signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "exp"}, ExpiresIn=1
    )
    put_url = signer.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "exp-put"}, ExpiresIn=1
    )
    time.sleep(2.1)
    resp = httpx.get(get_url)
    assert resp.status_code == 403, resp.text
    assert parse_xml(resp.content).findtext("Code") == "AccessDenied"
    resp = httpx.put(put_url, content=b"late")
    assert resp.status_code == 403, resp.text
    assert parse_xml(resp.content).findtext("Code") == "AccessDenied"
    assert object_absent(s3, bucket, "exp-put")


def tamper(url: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    out = []
    for name, value in query:
        if name in ("Signature", "X-Amz-Signature"):
            # Flip one character of the signature, keeping its format valid.
            first = "A" if value[0] != "A" else "B"
            value = first + value[1:]
        out.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(out)))


def test_presigned_tampered_signature(signer, s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"secret")
    url = signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "t"}, ExpiresIn=300
    )
    resp = httpx.get(tamper(url))
    assert resp.status_code == 403, resp.text
    assert parse_xml(resp.content).findtext("Code") == "SignatureDoesNotMatch"
    assert b"secret" not in resp.content

    put_url = signer.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "t"}, ExpiresIn=300
    )
    resp = httpx.put(tamper(put_url), content=b"overwritten")
    assert resp.status_code == 403, resp.text
    assert parse_xml(resp.content).findtext("Code") == "SignatureDoesNotMatch"
    assert get_bytes(s3, bucket, "t") == b"secret"


def test_presigned_url_for_other_key_is_rejected(signer, s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"1")
    s3.put_object(Bucket=bucket, Key="two", Body=b"2")
    url = signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "one"}, ExpiresIn=300
    )
    parts = urlsplit(url)
    other = urlunsplit(parts._replace(path=parts.path.replace("/one", "/two")))
    resp = httpx.get(other)
    assert resp.status_code == 403
    assert parse_xml(resp.content).findtext("Code") == "SignatureDoesNotMatch"


def test_presigned_get_as_put_is_rejected(signer, s3, bucket):
    url = signer.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "m"}, ExpiresIn=300
    )
    resp = httpx.put(url, content=b"sneaky")
    assert resp.status_code == 403
    assert parse_xml(resp.content).findtext("Code") == "SignatureDoesNotMatch"
    assert object_absent(s3, bucket, "m")
