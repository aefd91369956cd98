"""SigV2 verification: AWS's documented examples and requests/URLs signed by botocore."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials

from gateway.auth import sigv2
from gateway.auth.verify import SignedRequest, authenticate
from gateway.errors import (
    AccessDenied,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    InvalidArgument,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)

AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRETS = {AK: SK}.get
HOST = "127.0.0.1:9000"
ODD_KEYS = ["plain", "a b", "a+b", "100%", "tilde~", "ünï/€", "x" * 1000, "chars!'()*&$@=;:,?#"]


def wire(method: str, url: str, headers: dict[str, str]) -> SignedRequest:
    parts = urlsplit(url)
    return SignedRequest(
        method, parts.path, parts.query, {k.lower(): v for k, v in headers.items()}
    )


def object_url(key: str, query: str = "") -> str:
    return f"http://{HOST}/bkt/{quote(key, safe='/~')}" + (f"?{query}" if query else "")


def hmacv1_signed(
    method: str, url: str, headers: dict[str, str] | None = None, secret: str = SK
) -> SignedRequest:
    req = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    HmacV1Auth(Credentials(AK, secret)).add_auth(req)
    return wire(method, req.url, dict(req.headers.items()))


def hmacv1_presigned(
    method: str, url: str, headers: dict[str, str] | None = None, expires: int = 300
) -> SignedRequest:
    req = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    HmacV1QueryAuth(Credentials(AK, SK), expires=expires).add_auth(req)
    return wire(method, req.url, {"host": HOST})


def now() -> datetime:
    return datetime.now(UTC)


# --- AWS documented examples (S3 developer guide, "Signing and authenticating REST requests",
# bucket johnsmith addressed virtual-hosted style) ------------------------------------------

DOC_EXAMPLES = [
    ("GET", "/photos/puppy.jpg", "", "Tue, 27 Mar 2007 19:36:42 +0000", {}, "bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
    ("PUT", "/photos/puppy.jpg", "", "Tue, 27 Mar 2007 21:15:45 +0000", {"content-type": "image/jpeg"}, "MyyxeRY7whkBe+bq8fHCL/2kKUg="),
    ("GET", "/", "prefix=photos&max-keys=50&marker=puppy", "Tue, 27 Mar 2007 19:42:41 +0000", {}, "htDYFYduRNen8P9ZfE/s9SuKy0U="),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "query", "date", "extra", "sig"), DOC_EXAMPLES)
def test_aws_documented_examples(method, path, query, date, extra, sig):
    headers = {
        "host": "johnsmith.s3.amazonaws.com",
        "date": date,
        "authorization": f"AWS {AK}:{sig}",
        **extra,
    }
    when = parsedate_to_datetime(date) + timedelta(minutes=5)
    req = SignedRequest(method, path, query, headers, virtual_bucket="johnsmith")
    result = authenticate(req, SECRETS, when)
    assert (result.access_key, result.payload_mode, result.chunk_signing) == (
        AK,
        "UNSIGNED-PAYLOAD",
        None,
    )
    # Path-style, the same request names another resource.
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(SignedRequest(method, path, query, headers), SECRETS, when)


def test_string_to_sign_layout():
    sts = sigv2.string_to_sign(
        "put", "md5==", "text/plain", "DATE", {"X-Amz-Meta-B": " 2 ", "x-amz-acl": "private", "host": "h"},
        sigv2.canonical_resource("/b/k", "uploadId=u%2F1&partNumber=2&foo=bar&acl", sigv2.AWS_SUBRESOURCES),
    )  # fmt: skip
    assert (
        sts
        == "PUT\nmd5==\ntext/plain\nDATE\nx-amz-acl:private\nx-amz-meta-b:2\n/b/k?acl&partNumber=2&uploadId=u/1"
    )


# --- botocore HmacV1Auth (header) ------------------------------------------------------------


@pytest.mark.parametrize("key", ODD_KEYS)
def test_botocore_header_odd_keys(key):
    headers = {
        "Content-Type": "text/plain",
        "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
        "x-amz-meta-Color": "blue",
    }
    req = hmacv1_signed("PUT", object_url(key), headers)
    assert authenticate(req, SECRETS, now()).payload_mode == "UNSIGNED-PAYLOAD"
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(hmacv1_signed("PUT", object_url(key), headers, secret="bad"), SECRETS, now())


@pytest.mark.parametrize(
    "query",
    [
        "acl",
        "uploads",
        "uploadId=abc%2Fdef&partNumber=3",
        "versionId=v1&response-content-type=text%2Fplain&response-content-disposition=attachment%3B%20x",
        "tagging&versionId=3",
        "delete",
        "cors",
        "list-type=2&prefix=a&delimiter=%2F",
    ],
)
def test_botocore_header_subresources(query):
    req = hmacv1_signed("GET", object_url("k", query))
    assert authenticate(req, SECRETS, now()).access_key == AK
    # A signed sub-resource cannot be swapped for another.
    if "=" in query and query.split("=")[0] in sigv2.AWS_SUBRESOURCES:
        swapped = SignedRequest("GET", req.raw_path, query.replace("=", "=x", 1), req.headers)
        with pytest.raises(SignatureDoesNotMatch):
            authenticate(swapped, SECRETS, now())


def test_x_amz_date_replaces_date():
    date = formatdate(usegmt=True)
    sts = sigv2.string_to_sign("GET", "", "", "", {"x-amz-date": date}, "/bkt/k")
    headers = {
        "host": HOST,
        "x-amz-date": date,
        "authorization": f"AWS {AK}:{sigv2.signature(SK, sts)}",
    }
    assert authenticate(SignedRequest("GET", "/bkt/k", "", headers), SECRETS, now())


def test_header_refusals():
    req = hmacv1_signed("GET", object_url("k"))
    with pytest.raises(RequestTimeTooSkewed):
        authenticate(req, SECRETS, now() + timedelta(minutes=16))
    with pytest.raises(InvalidAccessKeyId):
        authenticate(req, {}.get, now())
    for bad in ("AWS nocolon", "AWS :sig", f"AWS {AK}:"):
        with pytest.raises(InvalidArgument):
            authenticate(
                SignedRequest("GET", "/bkt/k", "", dict(req.headers, authorization=bad)),
                SECRETS,
                now(),
            )
    no_date = {k: v for k, v in req.headers.items() if k != "date"}
    with pytest.raises(AccessDenied, match="Date or x-amz-date"):
        authenticate(SignedRequest("GET", "/bkt/k", "", no_date), SECRETS, now())
    tampered = dict(req.headers, **{"x-amz-meta-new": "1"})
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(SignedRequest("GET", "/bkt/k", "", tampered), SECRETS, now())


def latin1_wire(req: AWSRequest) -> SignedRequest:
    """What the HTTP layer hands authenticate(): header values as UTF-8 on the wire (as
    botocore sends them), decoded one char per byte (latin-1)."""
    headers = {k: v.encode("utf-8").decode("latin-1") for k, v in req.headers.items()}
    return wire(req.method, req.url, headers)


def test_bucket_only_request_signed_with_trailing_slash():
    # botocore signs CreateBucket & co. on "/bucket/" (AWS's bucket resource form) while
    # sending "/bucket"; both name the bucket.
    req = AWSRequest(method="PUT", url=f"http://{HOST}/bkt", headers={})
    req.auth_path = "/bkt/"
    HmacV1Auth(Credentials(AK, SK)).add_auth(req)
    signed = wire("PUT", req.url, dict(req.headers.items()))
    assert signed.raw_path == "/bkt"
    assert authenticate(signed, SECRETS, now()).access_key == AK
    # The slash is only added to a bare bucket: an object path signed so is refused.
    req = AWSRequest(method="PUT", url=f"http://{HOST}/bkt/k", headers={})
    req.auth_path = "/bkt/k/"
    HmacV1Auth(Credentials(AK, SK)).add_auth(req)
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(wire("PUT", req.url, dict(req.headers.items())), SECRETS, now())


class _EmptyBody:
    """The raw body of a canned botocore response."""

    def stream(self, **_: object) -> list[bytes]:
        return [b""]


def test_boto3_sigv2_create_bucket_with_empty_user_agent():
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{HOST}",
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        region_name="us-east-1",
        config=Config(signature_version="s3"),
    )
    seen: list[SignedRequest] = []

    def capture(request: AWSRequest, **_: object) -> AWSResponse:
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        seen.append(wire(request.method, request.url, headers))
        return AWSResponse(request.url, 200, {}, _EmptyBody())

    client.meta.events.register(
        "before-call.s3.CreateBucket",
        lambda params, **_: params["headers"].update({"User-Agent": ""}),
    )
    client.meta.events.register("before-send.s3.CreateBucket", capture)
    client.create_bucket(Bucket="bkt")
    assert seen[0].headers["user-agent"] == ""
    assert authenticate(seen[0], SECRETS, now()).access_key == AK


def test_non_ascii_header_value_verifies_over_wire_bytes():
    req = AWSRequest(
        method="PUT", url=object_url("k"), headers={"x-amz-meta-greeting": "Hello World\xe9 €"}
    )
    HmacV1Auth(Credentials(AK, SK)).add_auth(req)
    assert authenticate(latin1_wire(req), SECRETS, now()).access_key == AK


def test_empty_or_invalid_x_amz_date_is_refused_even_with_a_good_date():
    # AWS reads x-amz-date when it is present: an empty one is not "absent".
    for bad in ("", "Bad Date", "Tue, 07 Jul 1950 21:53:04 GMT"):
        req = hmacv1_signed("PUT", object_url("k"), {"x-amz-date": bad})
        assert "date" in req.headers
        with pytest.raises(AccessDenied, match="Date or x-amz-date"):
            authenticate(req, SECRETS, now())


def test_dates_before_epoch_are_invalid_after_are_skewed():
    assert sigv2.parse_http_date("Tue, 07 Jul 1950 21:53:04 GMT") is None
    assert sigv2.parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") is not None
    req = hmacv1_signed("PUT", object_url("k"), {"x-amz-date": "Tue, 07 Jul 9999 21:53:04 GMT"})
    with pytest.raises(RequestTimeTooSkewed):
        authenticate(req, SECRETS, now())


# --- presigned (HmacV1QueryAuth, boto3's and `aws s3 presign`'s default) ------------------


@pytest.mark.parametrize("key", ODD_KEYS)
def test_botocore_presigned_odd_keys(key):
    req = hmacv1_presigned("GET", object_url(key, "response-content-type=text%2Fplain"))
    assert authenticate(req, SECRETS, now()).payload_mode == "UNSIGNED-PAYLOAD"
    other = SignedRequest("GET", req.raw_path + "x", req.raw_query, req.headers)
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(other, SECRETS, now())


def test_presigned_with_signed_headers_moved_to_the_query():
    req = hmacv1_presigned(
        "PUT", object_url("k"), {"Content-Type": "image/png", "x-amz-acl": "private"}
    )
    assert "content-type=image%2Fpng" in req.raw_query and "x-amz-acl=private" in req.raw_query
    assert authenticate(req, SECRETS, now())
    # Sending the signed Content-Type as a header as well is what clients do.
    with_header = SignedRequest(
        "PUT", req.raw_path, req.raw_query, {"host": HOST, "content-type": "image/png"}
    )
    assert authenticate(with_header, SECRETS, now())


def test_boto3_generate_presigned_url_default_signer():
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{HOST}",
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        region_name="us-east-1",
    )
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": "bkt", "Key": "a b+c~ü/€"}, ExpiresIn=120
    )
    # botocore 1.43 presigns S3 with SigV2 unless configured for s3v4; either must verify.
    req = wire("GET", url, {"host": HOST})
    assert authenticate(req, SECRETS, now()).access_key == AK
    with pytest.raises(AccessDenied, match="Request has expired"):
        authenticate(req, SECRETS, now() + timedelta(seconds=180))


def test_presigned_refusals():
    req = hmacv1_presigned("GET", object_url("k"), expires=1)
    with pytest.raises(AccessDenied, match="Request has expired"):
        authenticate(req, SECRETS, now() + timedelta(seconds=5))
    req = hmacv1_presigned("GET", object_url("k"))
    missing = "&".join(p for p in req.raw_query.split("&") if not p.startswith("Expires="))
    with pytest.raises(AccessDenied, match="requires the Signature, Expires and AWSAccessKeyId"):
        authenticate(SignedRequest("GET", req.raw_path, missing, req.headers), SECRETS, now())
    bad_expires = missing + "&Expires=tomorrow"
    with pytest.raises(AuthorizationQueryParametersError):
        authenticate(SignedRequest("GET", req.raw_path, bad_expires, req.headers), SECRETS, now())
    with pytest.raises(InvalidAccessKeyId):
        authenticate(req, {}.get, now())


def test_presigned_expiry_is_capped_at_a_week():
    """A SigV2 URL carries an instant; one more than a week (and the clock skew) ahead is
    refused as SigV4's X-Amz-Expires is, so a URL of a key that cannot be revoked does not
    live for 100 years. A week exactly still verifies."""
    week = 7 * 86400
    assert authenticate(hmacv1_presigned("GET", object_url("k"), expires=week), SECRETS, now())
    for expires in (week + 3600, 100 * 365 * 86400):
        req = hmacv1_presigned("GET", object_url("k"), expires=expires)
        with pytest.raises(AuthorizationQueryParametersError, match="less than a week") as ei:
            authenticate(req, SECRETS, now())
        assert "ServerTime" in ei.value.extra
    # An Expires beyond the calendar is refused the same way, not an OverflowError (500).
    req = hmacv1_presigned("GET", object_url("k"))
    query = re.sub(r"Expires=\d+", "Expires=" + "9" * 30, req.raw_query)
    with pytest.raises(AuthorizationQueryParametersError, match="less than a week"):
        authenticate(SignedRequest("GET", req.raw_path, query, req.headers), SECRETS, now())
