"""Helpers for the integration suite: raw SigV4-signed requests, error assertions, XML."""

from __future__ import annotations

import base64
import hashlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from unittest import mock
from urllib.parse import quote, urlencode

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.server import CairnServer

REGION = "us-east-1"
# A lifecycle "day" on the lifecycle tests' server (lc_server), in seconds.
LIFECYCLE_DAY = 2.0


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def quoted_etag(data: bytes) -> str:
    return f'"{md5_hex(data)}"'


def unique(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def headers_of(resp: dict[str, Any]) -> dict[str, str]:
    """Lower-cased HTTP response headers of a boto3 response (or ClientError response)."""
    return resp["ResponseMetadata"]["HTTPHeaders"]


def status_of(resp: dict[str, Any]) -> int:
    return resp["ResponseMetadata"]["HTTPStatusCode"]


@contextmanager
def s3_error(code: str, status: int | None = None) -> Iterator[pytest.ExceptionInfo[ClientError]]:
    """Expect a ClientError with this AWS error Code (and HTTP status)."""
    with pytest.raises(ClientError) as ei:
        yield ei
    resp = ei.value.response
    assert resp["Error"]["Code"] == code, resp
    if status is not None:
        assert status_of(resp) == status, resp


def object_absent(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if status_of(exc.response) == 404:
            return True
        raise
    return False


def get_bytes(s3: Any, bucket: str, key: str, **kw: Any) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


def object_url(server: CairnServer, bucket: str, key: str | None = None) -> str:
    url = f"{server.endpoint}/{bucket}"
    if key is not None:
        url += "/" + quote(key, safe="/~")
    return url


def signed_request(
    server: CairnServer,
    method: str,
    url: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    access_key: str | None = None,
    secret_key: str | None = None,
    when: datetime | None = None,
    payload_hash: str | None = None,
) -> httpx.Response:
    """Send a request signed with botocore's SigV4 signer through httpx.

    `when` signs with that timestamp instead of now; `payload_hash` signs and sends that
    x-amz-content-sha256 value instead of the real hash of `body`.
    """
    if params:
        url += "?" + urlencode(params, quote_via=quote, safe="~")
    creds = Credentials(access_key or server.access_key, secret_key or server.secret_key)

    class Signer(S3SigV4Auth):
        def payload(self, request: AWSRequest) -> str:
            return payload_hash if payload_hash is not None else super().payload(request)

    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = Signer(creds, "s3", REGION)
    if when is not None:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    prepared = req.prepare()
    with httpx.Client(verify=False, timeout=60) as client:
        return client.request(
            method, prepared.url, headers=dict(prepared.headers.items()), content=body
        )


def raw_signed(
    server: CairnServer,
    method: str,
    bucket: str,
    key: str | None = None,
    **kw: Any,
) -> httpx.Response:
    return signed_request(server, method, object_url(server, bucket, key), **kw)


def strip_ns(root: ET.Element) -> ET.Element:
    for el in root.iter():
        if "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def parse_xml(body: bytes) -> ET.Element:
    return strip_ns(ET.fromstring(body))


def error_code_of(resp: httpx.Response) -> str | None:
    if not resp.content:
        return None
    root = parse_xml(resp.content)
    return root.findtext("Code")
