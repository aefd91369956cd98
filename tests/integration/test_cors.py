"""Bucket CORS end to end: Put/Get/DeleteBucketCors through boto3 (with AWS's validation:
bad documents change nothing), preflights as raw unauthenticated OPTIONS, and the
Access-Control-* headers on actual requests, errors included."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import object_url, raw_signed, s3_error, status_of

ORIGIN = "https://app.example"
RULES: dict[str, Any] = {
    "CORSRules": [
        {
            "ID": "app",
            "AllowedOrigins": [ORIGIN, "https://*.example.org"],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["content-type", "x-amz-*"],
            "ExposeHeaders": ["ETag", "x-amz-request-id"],
            "MaxAgeSeconds": 600,
        },
        {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
    ]
}


def options(server, bucket: str, key: str | None, headers: dict[str, str]) -> httpx.Response:
    return httpx.request(
        "OPTIONS", object_url(server, bucket, key), headers=headers, verify=False, timeout=30
    )


def test_put_get_delete_round_trip(s3, bucket):
    with s3_error("NoSuchCORSConfiguration", 404):
        s3.get_bucket_cors(Bucket=bucket)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0] == RULES["CORSRules"][0]
    assert got[1] == {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}
    assert status_of(s3.delete_bucket_cors(Bucket=bucket)) == 204
    with s3_error("NoSuchCORSConfiguration", 404):
        s3.get_bucket_cors(Bucket=bucket)


def test_cors_survives_other_bucket_settings(s3, bucket):
    """The rules live in the bucket record beside access settings: changing those keeps them."""
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 2


@pytest.mark.parametrize(
    ("rules", "code"),
    [
        ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest"),
        ([{"AllowedOrigins": ["*.*.example"], "AllowedMethods": ["GET"]}], "InvalidRequest"),
        (
            [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*a*"]}],
            "InvalidRequest",
        ),
        ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "MalformedXML"),
    ],
)
def test_bad_configurations_are_refused_and_change_nothing(s3, bucket, rules, code):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    with s3_error(code, 400):
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"<CORSConfiguration><CORSRule>",
        b"<CORSConfiguration></CORSConfiguration>",
        b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"
        b"</CORSConfiguration>",
        b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>"
        b"</CORSConfiguration>",
    ],
)
def test_malformed_documents(server, s3, bucket, body):
    r = raw_signed(server, "PUT", bucket, params={"cors": ""}, body=body)
    assert r.status_code == 400 and b"<Code>MalformedXML</Code>" in r.content
    with s3_error("NoSuchCORSConfiguration", 404):
        s3.get_bucket_cors(Bucket=bucket)


def test_preflight_without_rules_is_refused(server, bucket):
    r = options(server, bucket, "k", {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert r.status_code == 403
    assert b"CORS is not enabled for this bucket" in r.content


def test_preflight_allowed(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    r = options(
        server,
        bucket,
        "some/key",
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Content-Type, X-Amz-Meta-Color",
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-allow-methods"] == "GET, PUT"
    assert r.headers["access-control-allow-headers"] == "content-type, x-amz-meta-color"
    assert r.headers["access-control-expose-headers"] == "ETag, x-amz-request-id"
    assert r.headers["access-control-max-age"] == "600"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in r.headers["vary"]


def test_preflight_wildcards(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    ok = options(
        server,
        bucket,
        None,
        {"Origin": "https://a.example.org", "Access-Control-Request-Method": "GET"},
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://a.example.org"
    star = options(
        server, bucket, "k", {"Origin": "http://x", "Access-Control-Request-Method": "HEAD"}
    )
    assert star.status_code == 200 and star.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in star.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"},
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    ],
)
def test_preflight_not_matching_is_403(server, s3, bucket, headers):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    r = options(server, bucket, "k", headers)
    assert r.status_code == 403
    assert b"<Code>AccessForbidden</Code>" in r.content
    assert b"This CORS request is not allowed" in r.content
    assert "access-control-allow-origin" not in r.headers


def test_preflight_bad_requests(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    assert options(server, bucket, "k", {}).status_code == 400
    assert options(server, bucket, "k", {"Origin": ORIGIN}).status_code == 400


def test_actual_requests_carry_the_headers(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    s3.put_object(Bucket=bucket, Key="k", Body=b"hi")
    r = raw_signed(server, "GET", bucket, "k", headers={"Origin": ORIGIN})
    assert r.status_code == 200 and r.content == b"hi"
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-expose-headers"] == "ETag, x-amz-request-id"
    # An error answer carries them too, so the page can read it.
    missing = raw_signed(server, "GET", bucket, "nope", headers={"Origin": ORIGIN})
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == ORIGIN
    # An origin no rule allows gets none; neither does a request without Origin.
    other = raw_signed(server, "GET", bucket, "k", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in raw_signed(server, "GET", bucket, "k").headers


def test_a_preflight_does_not_authenticate_or_change_anything(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    r = options(server, bucket, "k", {"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"})
    assert r.status_code == 200
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")
