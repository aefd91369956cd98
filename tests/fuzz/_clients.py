"""Requests signed by botocore, the independent client the round trips check against.

The SigV4 helpers are tests/s3sign.py's (botocore's S3SigV4Auth at a chosen time); the
SigV2 ones are botocore's HmacV1Auth/HmacV1QueryAuth with the clock fixed. Every request
is signed at ``NOW`` with ``ACCESS_KEY``/``SECRET_KEY``, the one key the harnesses know.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests import s3sign

NOW = datetime(2026, 12, 7, 14, 0, 0, tzinfo=UTC)
ACCESS_KEY = "AKIAFUZZEXAMPLE0001"
SECRET_KEY = "fuzz/Secret+Key/EXAMPLEKEY0123456789abcd"
ENDPOINT = "http://127.0.0.1:9000"
PRESIGN_EXPIRES = 3600


def secret_for(access_key: str) -> str | None:
    return SECRET_KEY if access_key == ACCESS_KEY else None


def sigv4_headers(method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
    """The headers of ``url`` SigV4-signed by botocore (UNSIGNED-PAYLOAD body)."""
    return s3sign.sign_headers(
        method,
        url,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        payload="UNSIGNED-PAYLOAD",
        headers=headers,
        now=NOW,
    )


def sigv4_presigned(method: str, url: str) -> str:
    return s3sign.presign_v4(
        method, url, access_key=ACCESS_KEY, secret_key=SECRET_KEY, expires=PRESIGN_EXPIRES, now=NOW
    )


class _FixedClockV1(HmacV1Auth):
    def _get_date(self) -> str:
        return format_datetime(NOW, usegmt=True)


class _FixedClockV1Query(HmacV1QueryAuth):
    def _get_date(self) -> str:
        return str(int(NOW.timestamp()) + PRESIGN_EXPIRES)


def sigv2_headers(method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
    """The headers of ``url`` SigV2-signed by botocore (Authorization: AWS AKID:sig)."""
    request = AWSRequest(method=method, url=url, headers={"Host": urlsplit(url).netloc, **headers})
    _FixedClockV1(Credentials(ACCESS_KEY, SECRET_KEY)).add_auth(request)
    return dict(request.headers.items())


def sigv2_presigned(method: str, url: str, headers: dict[str, str]) -> str:
    """``url`` presigned with SigV2 by botocore (AWSAccessKeyId, Expires, Signature)."""
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    _FixedClockV1Query(Credentials(ACCESS_KEY, SECRET_KEY), expires=PRESIGN_EXPIRES).add_auth(
        request
    )
    return request.url


def request_head(method: str, url: str, headers: dict[str, str]) -> bytes:
    """The request head a client would send for ``url``: what the corpora store."""
    split = urlsplit(url)
    target = split.path + ("?" + split.query if split.query else "")
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
