"""SigV4 verification: AWS's published vectors, botocore-signed requests, and every refusal."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import quote, urlencode, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway.auth import sigv4
from gateway.auth.verify import SignedRequest, authenticate
from gateway.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from tests import s3sign

AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRETS = {AK: SK}.get
AWS_NOW = datetime(2013, 5, 24, 0, 3, tzinfo=UTC)
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOST = "127.0.0.1:9000"
E = sigv4.EMPTY_SHA256

ODD_KEYS = [
    "plain.txt",
    "a b",
    "a+b",
    "100%",
    "100%25literal",
    "tilde~key",
    "ünïcödé/€uro",
    "emoji 😀",
    "x" * 1000,
    "dir/sub dir/leaf",
    "dir//double//slash",
    "./dot/../segments",
    "chars!'()*&$@=;:,?#[]",
    "trailing/",
]


def wire(method: str, url: str, headers: dict[str, str]) -> SignedRequest:
    """What the HTTP layer hands authenticate(): raw path/query, lower-cased headers."""
    parts = urlsplit(url)
    return SignedRequest(
        method, parts.path, parts.query, {k.lower(): v for k, v in headers.items()}
    )


def botocore_signed(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    secret: str = SK,
    region: str = "us-east-1",
) -> SignedRequest:
    """A request signed by botocore's own S3SigV4Auth.add_auth (clock pinned to NOW)."""
    req = AWSRequest(method=method, url=url, data=body, headers={"Host": HOST, **(headers or {})})
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        S3SigV4Auth(Credentials(AK, secret), "s3", region).add_auth(req)
    return wire(method, req.url, dict(req.headers.items()))


def botocore_presigned(
    method: str, url: str, expires: int = 3600, secret: str = SK, region: str = "us-east-1"
) -> SignedRequest:
    req = AWSRequest(method=method, url=url, headers={"Host": HOST})
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        S3SigV4QueryAuth(Credentials(AK, secret), "s3", region, expires=expires).add_auth(req)
    return wire(method, req.url, {"host": HOST})


def object_url(key: str, query: str = "") -> str:
    # botocore's serializer encodes keys with quote(key, safe="/~"), as here.
    return f"http://{HOST}/bkt/{quote(key, safe='/~')}" + (f"?{query}" if query else "")


# --- AWS published vectors (S3 API reference, "Examples of the complete Version 4 signing
# process" / "Authenticating requests: using query parameters") ---------------------------

AUTH = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
AWS_VECTORS = [
    pytest.param(
        "GET", "/test.txt", "",
        {"range": "bytes=0-9", "x-amz-content-sha256": E},
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        id="get-object",
    ),
    pytest.param(
        "PUT", "/test%24file.text", "",
        {
            "date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "x-amz-content-sha256": hashlib.sha256(b"Welcome to Amazon S3.").hexdigest(),
        },
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        id="put-object",
    ),
    pytest.param(
        "GET", "/", "lifecycle", {"x-amz-content-sha256": E},
        "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        id="get-lifecycle",
    ),
    pytest.param(
        "GET", "/", "max-keys=2&prefix=J", {"x-amz-content-sha256": E},
        "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        id="list-objects",
    ),
]  # fmt: skip


def aws_request(method, path, query, extra, signed, sig) -> SignedRequest:
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "authorization": f"{AUTH}SignedHeaders={signed},Signature={sig}",
        **extra,
    }
    return SignedRequest(method, path, query, headers)


@pytest.mark.parametrize(("method", "path", "query", "extra", "signed", "sig"), AWS_VECTORS)
def test_aws_header_vectors(method, path, query, extra, signed, sig):
    result = authenticate(aws_request(method, path, query, extra, signed, sig), SECRETS, AWS_NOW)
    assert result.access_key == AK
    assert result.payload_mode == extra["x-amz-content-sha256"]
    assert result.chunk_signing is None


@pytest.mark.parametrize(("method", "path", "query", "extra", "signed", "sig"), AWS_VECTORS)
def test_aws_header_vectors_detect_any_change(method, path, query, extra, signed, sig):
    changed = dict(extra, **{"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    for req in (
        aws_request("DELETE", path, query, extra, signed, sig),
        aws_request(method, path + "x", query, extra, signed, sig),
        aws_request(method, path, query + "&x=1", extra, signed, sig),
        aws_request(method, path, query, changed, signed, sig),
    ):
        with pytest.raises(SignatureDoesNotMatch):
            authenticate(req, SECRETS, AWS_NOW)


def test_aws_presigned_vector():
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    req = SignedRequest("GET", "/test.txt", query, {"host": "examplebucket.s3.amazonaws.com"})
    result = authenticate(req, SECRETS, AWS_NOW + timedelta(hours=23))
    assert (result.access_key, result.payload_mode) == (AK, "UNSIGNED-PAYLOAD")
    with pytest.raises(AccessDenied, match="Request has expired"):
        authenticate(req, SECRETS, AWS_NOW + timedelta(hours=24, minutes=1))
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(SignedRequest("GET", "/test2.txt", query, req.headers), SECRETS, AWS_NOW)


def test_signing_key_vector_and_cache():
    # AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
    sigv4.signing_key.cache_clear()
    key = sigv4.signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"
    )
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert sigv4.signing_key.cache_info().hits == 1


def test_canonical_query_rules():
    assert sigv4.canonical_query("b=2&a=1&a=0&c") == "a=0&a=1&b=2&c="
    assert sigv4.canonical_query("p=a/b") == sigv4.canonical_query("p=a%2Fb") == "p=a%2Fb"
    assert sigv4.canonical_query("p=%7e%20%2a") == "p=~%20%2A"
    assert sigv4.canonical_query("p=a+b") == "p=a%2Bb"
    assert sigv4.canonical_query("p=a+b", plus_as_space=True) == "p=a%20b"
    assert sigv4.canonical_query("X-Amz-Signature=x&a=1", exclude=["X-Amz-Signature"]) == "a=1"
    assert sigv4.canonical_uri_candidates("") == ["/"]
    assert sigv4.canonical_uri_candidates("/b/a%20b") == ["/b/a%20b"]
    assert sigv4.canonical_uri_candidates("/b/a(1)") == ["/b/a(1)", "/b/a%281%29"]


def test_chunk_signing_repr_hides_the_key():
    signing = sigv4.ChunkSigning(b"\x01secret-key", "20130524T000000Z", "scope", "seed")
    assert "secret" not in repr(signing) and "x01" not in repr(signing)


# --- botocore-signed requests ---------------------------------------------------------------


@pytest.mark.parametrize("key", ODD_KEYS)
def test_botocore_header_auth_odd_keys(key):
    body = b"some body"
    req = botocore_signed("PUT", object_url(key), {"Content-Type": "text/plain"}, body)
    result = authenticate(req, SECRETS, NOW)
    assert result.payload_mode == hashlib.sha256(body).hexdigest()
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(
            botocore_signed("PUT", object_url(key), body=body, secret=SK + "x"), SECRETS, NOW
        )


@pytest.mark.parametrize("key", ODD_KEYS)
def test_botocore_presigned_odd_keys(key):
    req = botocore_presigned(
        "GET", object_url(key, "response-content-type=text/a%20b&versionId=v/1")
    )
    assert authenticate(req, SECRETS, NOW).payload_mode == "UNSIGNED-PAYLOAD"
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(botocore_presigned("GET", object_url(key), secret="wrong"), SECRETS, NOW)


def test_botocore_query_parameters():
    params = {
        "list-type": "2",
        "prefix": "a b/c+d~ü",
        "delimiter": "/",
        "max-keys": "10",
        "empty": "",
    }
    url = f"http://{HOST}/bkt?" + urlencode(params, quote_via=quote, safe="~")
    req = botocore_signed("GET", url)
    assert authenticate(req, SECRETS, NOW).access_key == AK
    # Some clients send '/' raw in values but sign it encoded: same canonical form.
    raw = SignedRequest(req.method, req.raw_path, req.raw_query.replace("%2F", "/"), req.headers)
    assert raw.raw_query != req.raw_query
    assert authenticate(raw, SECRETS, NOW).access_key == AK
    # ...and a value changed on the wire is caught.
    bad = SignedRequest(req.method, req.raw_path, req.raw_query.replace("10", "11"), req.headers)
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(bad, SECRETS, NOW)


def test_plus_in_query_may_mean_space():
    signed = botocore_signed("GET", f"http://{HOST}/bkt?prefix=a%20b")
    on_wire = SignedRequest("GET", "/bkt", "prefix=a+b", signed.headers)
    assert authenticate(on_wire, SECRETS, NOW).access_key == AK


def test_non_ascii_header_value_verifies_over_wire_bytes():
    # botocore signs the UTF-8 of a str header value and sends those bytes; the HTTP layer
    # decodes them one char per byte (latin-1), so the check must hash those same bytes.
    value = "Hello World\xe9 €"
    req = botocore_signed("PUT", object_url("k"), {"x-amz-meta-meta1": value})
    on_wire = dict(req.headers, **{"x-amz-meta-meta1": value.encode().decode("latin-1")})
    received = SignedRequest(req.method, req.raw_path, req.raw_query, on_wire)
    assert authenticate(received, SECRETS, NOW).access_key == AK
    assert sigv4.wire_bytes("\xe9") == b"\xe9"
    assert sigv4.wire_bytes("€") == "€".encode()


def test_header_values_are_trimmed_and_collapsed():
    req = botocore_signed("GET", object_url("k"), {"x-amz-meta-a": "one  two"})
    spaced = dict(req.headers, **{"x-amz-meta-a": "  one   two "})
    assert authenticate(SignedRequest("GET", req.raw_path, "", spaced), SECRETS, NOW)


def test_streaming_modes_carry_chunk_signing():
    url = object_url("k")
    for mode, signed in (
        (s3sign.STREAMING_SIGNED, True),
        (s3sign.STREAMING_SIGNED_TRAILER, True),
        (s3sign.STREAMING_UNSIGNED_TRAILER, False),
    ):
        trailer = "crc32" if mode.endswith("TRAILER") else None
        headers, _ = s3sign.streaming_upload(
            "PUT", url, b"x", access_key=AK, secret_key=SK, mode=mode, trailer=trailer, now=NOW
        )
        result = authenticate(wire("PUT", url, headers), SECRETS, NOW)
        assert result.payload_mode == mode
        if signed:
            assert result.chunk_signing is not None
            assert result.chunk_signing.seed_signature == headers["Authorization"][-64:]
            assert result.chunk_signing.scope == "20250301/us-east-1/s3/aws4_request"
        else:
            assert result.chunk_signing is None


# --- refusals ---------------------------------------------------------------------------------


def test_time_skew():
    req = botocore_signed("GET", object_url("k"))
    assert authenticate(req, SECRETS, NOW + timedelta(minutes=14))
    assert authenticate(req, SECRETS, NOW - timedelta(minutes=14))
    for delta in (timedelta(minutes=16), -timedelta(minutes=16)):
        with pytest.raises(RequestTimeTooSkewed) as ei:
            authenticate(req, SECRETS, NOW + delta)
        assert ei.value.extra["MaxAllowedSkewMilliseconds"] == "900000"


def test_unknown_key_and_anonymous():
    req = botocore_signed("GET", object_url("k"))
    with pytest.raises(InvalidAccessKeyId):
        authenticate(req, {}.get, NOW)
    with pytest.raises(AccessDenied):
        authenticate(SignedRequest("GET", "/bkt/k", "", {"host": HOST}), SECRETS, NOW)


def test_signature_error_explains_but_never_leaks_the_secret():
    req = botocore_signed("GET", object_url("k"), secret="not-the-secret")
    with pytest.raises(SignatureDoesNotMatch) as ei:
        authenticate(req, SECRETS, NOW)
    assert ei.value.extra["CanonicalRequest"].startswith("GET\n/bkt/k\n")
    assert SK not in repr(ei.value.extra) and SK not in str(ei.value)


def with_auth(req: SignedRequest, **changes: str | None) -> SignedRequest:
    headers = dict(req.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return SignedRequest(req.method, req.raw_path, req.raw_query, headers)


def test_malformed_authorization_headers():
    req = botocore_signed("GET", object_url("k"))
    auth = req.headers["authorization"]
    cases = {
        "Bearer abc": InvalidArgument,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250301/us-east-1/s3/aws4_request": AuthorizationHeaderMalformed,
        auth.replace("/s3/", "/iam/"): AuthorizationHeaderMalformed,
        auth.replace("aws4_request", "aws5_request"): AuthorizationHeaderMalformed,
        auth.replace("/20250301/", "/2025031/"): AuthorizationHeaderMalformed,
        auth.replace("/20250301/", "/20250302/"): AuthorizationHeaderMalformed,
        auth.replace("SignedHeaders=host;", "SignedHeaders="): AuthorizationHeaderMalformed,
    }
    for value, error in cases.items():
        with pytest.raises(error):
            authenticate(with_auth(req, authorization=value), SECRETS, NOW)


def test_required_headers():
    req = botocore_signed("GET", object_url("k"))
    with pytest.raises(InvalidRequest, match="x-amz-content-sha256"):
        authenticate(with_auth(req, x_amz_content_sha256=None), SECRETS, NOW)
    with pytest.raises(InvalidArgument):
        authenticate(with_auth(req, x_amz_content_sha256="abc"), SECRETS, NOW)
    with pytest.raises(AccessDenied, match="Date or x-amz-date"):
        authenticate(with_auth(req, x_amz_date=None), SECRETS, NOW)
    with pytest.raises(AccessDenied, match="Date or x-amz-date"):
        authenticate(with_auth(req, x_amz_date="yesterday"), SECRETS, NOW)


def test_unsigned_amz_headers_are_refused():
    req = botocore_signed("PUT", object_url("k"))
    with pytest.raises(AccessDenied) as ei:
        authenticate(with_auth(req, x_amz_acl="public-read"), SECRETS, NOW)
    assert ei.value.extra["HeadersNotSigned"] == "x-amz-acl"
    # Other unsigned headers (a proxy's, the user agent) are fine.
    assert authenticate(with_auth(req, user_agent="curl", x_forwarded_for="1.2.3.4"), SECRETS, NOW)


def test_header_and_query_auth_together():
    req = botocore_presigned("GET", object_url("k"))
    both = with_auth(
        req, authorization=botocore_signed("GET", object_url("k")).headers["authorization"]
    )
    with pytest.raises(InvalidArgument, match="Only one auth mechanism"):
        authenticate(both, SECRETS, NOW)


def test_presigned_expiry_and_limits():
    req = botocore_presigned("GET", object_url("k"), expires=60)
    assert authenticate(req, SECRETS, NOW + timedelta(seconds=60))
    with pytest.raises(AccessDenied, match="Request has expired"):
        authenticate(req, SECRETS, NOW + timedelta(seconds=61))
    with pytest.raises(AccessDenied, match="not valid yet"):
        authenticate(req, SECRETS, NOW - timedelta(minutes=20))
    week = botocore_presigned("GET", object_url("k"), expires=604800)
    assert authenticate(week, SECRETS, NOW + timedelta(days=6))
    with pytest.raises(
        AuthorizationQueryParametersError,
        match=r"less than a week \(in seconds\); that is, the given X-Amz-Expires must be less than 604800 seconds",
    ):
        authenticate(botocore_presigned("GET", object_url("k"), expires=604801), SECRETS, NOW)


def test_malformed_presigned_parameters():
    req = botocore_presigned("GET", object_url("k"))
    q = req.raw_query
    bad_queries = [
        "&".join(p for p in q.split("&") if not p.startswith("X-Amz-Date=")),
        q.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1"),
        q.replace("X-Amz-Expires=3600", "X-Amz-Expires=soon"),
        q.replace("X-Amz-Expires=3600", "X-Amz-Expires=-1"),
        q.replace("%2Fus-east-1%2F", "%2F"),
        q.replace("X-Amz-Date=20250301T120000Z", "X-Amz-Date=2025-03-01"),
        q.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range"),
    ]
    for bad in bad_queries:
        assert bad != q
        with pytest.raises(AuthorizationQueryParametersError):
            authenticate(SignedRequest("GET", req.raw_path, bad, req.headers), SECRETS, NOW)
    with pytest.raises(InvalidAccessKeyId):
        authenticate(req, {}.get, NOW)


def test_presigned_refuses_unsigned_amz_headers_but_allows_others():
    req = botocore_presigned("PUT", object_url("k"))
    assert authenticate(with_auth(req, content_type="text/plain"), SECRETS, NOW)
    with pytest.raises(AccessDenied):
        authenticate(with_auth(req, x_amz_acl="public-read"), SECRETS, NOW)


def test_region_is_taken_from_the_credential_scope():
    req = botocore_presigned("GET", object_url("k"), region="eu-west-3")
    assert authenticate(req, SECRETS, NOW).access_key == AK


def test_another_region_is_refused_naming_the_expected_one():
    """As AWS does (botocore's region redirector reads <Region> and re-signs)."""
    header = botocore_signed("GET", object_url("k"), region="eu-west-3")
    with pytest.raises(AuthorizationHeaderMalformed) as ei:
        authenticate(header, SECRETS, NOW, region="us-east-1")
    assert ei.value.text == (
        "The authorization header is malformed; the region 'eu-west-3' is wrong; "
        "expecting 'us-east-1'"
    )
    assert ei.value.extra == {"Region": "us-east-1"}
    presigned = botocore_presigned("GET", object_url("k"), region="eu-west-3")
    with pytest.raises(AuthorizationQueryParametersError, match="expecting 'us-east-1'") as ei2:
        authenticate(presigned, SECRETS, NOW, region="us-east-1")
    assert ei2.value.extra == {"Region": "us-east-1"}
    # The server's own region verifies.
    own = botocore_signed("GET", object_url("k"), region="eu-west-3")
    assert authenticate(own, SECRETS, NOW, region="eu-west-3").access_key == AK


def test_signed_headers_naming_an_absent_header():
    """SignedHeaders names a header the request lacks: it is signed as an empty value, as
    AWS does (versity/versitygw#457: libs3 lists absent headers and AWS accepts it), so a
    header that was signed with a value and then dropped fails the signature, and one
    never sent verifies only if it was signed empty."""
    req = botocore_signed("PUT", object_url("k"), {"x-amz-meta-a": "1", "content-type": "a/b"})
    assert authenticate(req, SECRETS, NOW)
    for dropped in ("x-amz-meta-a", "content-type"):
        headers = {k: v for k, v in req.headers.items() if k != dropped}
        with pytest.raises(SignatureDoesNotMatch):
            authenticate(SignedRequest("PUT", req.raw_path, "", headers), SECRETS, NOW)
    empty = botocore_signed("PUT", object_url("k"), {"content-type": ""})
    headers = {k: v for k, v in empty.headers.items() if k != "content-type"}
    assert "content-type" in headers["authorization"]
    assert authenticate(SignedRequest("PUT", empty.raw_path, "", headers), SECRETS, NOW)
