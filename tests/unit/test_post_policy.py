"""gateway/auth/post_policy.py: the POST policy document, its conditions and signatures.

SigV4 forms are made by boto3's own generate_presigned_post; SigV2 forms as the Ceph suite
and old SDKs make them (base64 HMAC-SHA1 of the base64 policy)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from gateway import errors
from gateway.auth import post_policy
from gateway.auth.post_policy import (
    authenticate_form,
    check_conditions,
    check_length,
    limit_length,
    parse_policy,
)

ACCESS, SECRET = "AKIDPOSTTEST", "post-secret-key/0123456789"
SOON = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def secret_for(key: str) -> str | None:
    return SECRET if key == ACCESS else None


def encode(document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def v2_fields(document: Any, **extra: str) -> dict[str, str]:
    policy = encode(document)
    sig = base64.b64encode(hmac.new(SECRET.encode(), policy.encode(), hashlib.sha1).digest())
    return {"awsaccesskeyid": ACCESS, "policy": policy, "signature": sig.decode(), **extra}


def boto3_post(key: str = "uploads/a.txt", **kw: Any) -> dict[str, str]:
    """Fields of boto3's generate_presigned_post, by lower-cased name (as the form reader
    gives them)."""
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
    )
    post = client.generate_presigned_post("bkt", key, **kw)
    return {name.lower(): value for name, value in post["fields"].items()}


# --- signatures --------------------------------------------------------------------------


def test_boto3_sigv4_form_authenticates() -> None:
    fields = boto3_post(Conditions=[["content-length-range", 1, 100]])
    checked = authenticate_form(fields, secret_for)
    assert checked.auth is not None and checked.auth.access_key == ACCESS
    assert checked.policy is not None and checked.policy.length_range == (1, 100)
    check_conditions(checked.policy, fields, "bkt")  # boto3 names every field it sends


def test_a_tampered_sigv4_policy_or_signature_is_refused() -> None:
    fields = boto3_post()
    doc = json.loads(base64.b64decode(fields["policy"]))
    doc["conditions"].append(["starts-with", "$key", ""])
    with pytest.raises(errors.SignatureDoesNotMatch):
        authenticate_form({**fields, "policy": encode(doc)}, secret_for)
    bad = fields["x-amz-signature"][::-1]
    with pytest.raises(errors.SignatureDoesNotMatch):
        authenticate_form({**fields, "x-amz-signature": bad}, secret_for)


def test_sigv4_fields_are_required_and_checked() -> None:
    fields = boto3_post()
    for name in ("x-amz-credential", "x-amz-signature", "x-amz-date"):
        partial = {k: v for k, v in fields.items() if k != name}
        with pytest.raises(errors.InvalidArgument) as exc:
            authenticate_form(partial, secret_for)
        assert exc.value.extra["ArgumentName"] == name
    with pytest.raises(errors.InvalidArgument):
        authenticate_form({**fields, "x-amz-algorithm": "AWS4-HMAC-SHA1"}, secret_for)
    cred = fields["x-amz-credential"].replace("/s3/", "/ec2/")
    with pytest.raises(errors.InvalidArgument):
        authenticate_form({**fields, "x-amz-credential": cred}, secret_for)
    unknown = fields["x-amz-credential"].replace(ACCESS, "NOSUCHKEY")
    with pytest.raises(errors.InvalidAccessKeyId):
        authenticate_form({**fields, "x-amz-credential": unknown}, secret_for)


def test_sigv2_form() -> None:
    doc = {"expiration": SOON, "conditions": [{"bucket": "bkt"}, ["eq", "$key", "k"]]}
    checked = authenticate_form(v2_fields(doc, key="k"), secret_for)
    assert checked.auth is not None and checked.auth.access_key == ACCESS
    with pytest.raises(errors.SignatureDoesNotMatch):
        authenticate_form({**v2_fields(doc), "signature": "AAAA"}, secret_for)
    with pytest.raises(errors.InvalidAccessKeyId):
        authenticate_form({**v2_fields(doc), "awsaccesskeyid": "OTHER"}, secret_for)
    for name, shown in (("awsaccesskeyid", "AWSAccessKeyId"), ("signature", "Signature")):
        partial = {k: v for k, v in v2_fields(doc).items() if k != name}
        with pytest.raises(errors.InvalidArgument, match=f"field named '{shown}'"):
            authenticate_form(partial, secret_for)


def test_a_form_without_policy_is_anonymous_unless_it_carries_credentials() -> None:
    checked = authenticate_form({"key": "k", "acl": "public-read"}, secret_for)
    assert checked.auth is None and checked.policy is None
    with pytest.raises(errors.InvalidArgument, match="'policy'"):
        authenticate_form({"key": "k", "awsaccesskeyid": ACCESS, "signature": "x"}, secret_for)


# --- the document ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"conditions": []}, "Policy missing expiration."),
        ({"expiration": SOON}, "Policy missing conditions."),
        ({"EXPIRATION": SOON, "conditions": []}, "Policy missing expiration."),
        ({"expiration": SOON, "CONDITIONS": []}, "Policy missing conditions."),
        ({"expiration": "2026-12-07 15:13:15.123456+00:00", "conditions": []}, "expiration"),
        ({"expiration": SOON, "conditions": {}}, "must be a List"),
        ({"expiration": SOON, "conditions": [{}]}, "exactly one property"),
        ({"expiration": SOON, "conditions": [{"a": "1", "b": "2"}]}, "exactly one property"),
        ({"expiration": SOON, "conditions": [["content-length-range", 0]]}, "content-length"),
        ({"expiration": SOON, "conditions": [["content-length-range", -1, 0]]}, "content-len"),
        ({"expiration": SOON, "conditions": [["content-length-range", 9, 1]]}, "content-len"),
        ({"expiration": SOON, "conditions": [["ends-with", "$key", "x"]]}, "unknown operation"),
        ({"expiration": SOON, "conditions": [["eq", "key", "x"]]}, "form field"),
        ({"expiration": SOON, "conditions": [["eq", "$key"]]}, "number of arguments"),
        ({"expiration": SOON, "conditions": ["key"]}, "List or an Object"),
        ([], "Invalid JSON"),
    ],
)
def test_invalid_documents(document: Any, reason: str) -> None:
    with pytest.raises(errors.InvalidPolicyDocument, match=reason):
        parse_policy(encode(document))


def test_not_base64_or_not_json() -> None:
    with pytest.raises(errors.InvalidPolicyDocument):
        parse_policy("%%%")
    with pytest.raises(errors.InvalidPolicyDocument):
        parse_policy(base64.b64encode(b"{not json").decode())


def test_expiration_with_and_without_milliseconds() -> None:
    a = parse_policy(encode({"expiration": "2030-01-02T03:04:05.000Z", "conditions": []}))
    b = parse_policy(encode({"expiration": "2030-01-02T03:04:05Z", "conditions": []}))
    assert a.expiration == b.expiration == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- the conditions ----------------------------------------------------------------------


def policy_of(*conditions: Any, expiration: str = SOON) -> post_policy.PostPolicy:
    return parse_policy(encode({"expiration": expiration, "conditions": list(conditions)}))


def test_expired_policy() -> None:
    past = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(errors.AccessDenied, match="Policy expired"):
        check_conditions(policy_of(expiration=past), {}, "b")


def test_conditions_match_exactly_prefixes_and_any_case_of_names() -> None:
    policy = policy_of(
        {"bUcKeT": "b"},
        ["StArTs-WiTh", "$KeY", "user/"],
        {"AcL": "private"},
        ["eq", "$success_action_status", "201"],
        ["starts-with", "$Content-Type", "image/"],
        ["starts-with", "$x-amz-meta-tag", ""],
    )
    fields = {
        "key": "user/a.png",
        "acl": "private",
        "success_action_status": "201",
        "content-type": "image/png, image/jpeg",
        "x-amz-meta-tag": "anything",
        "policy": "p",
        "awsaccesskeyid": "a",
        "signature": "s",
        "x-ignore-me": "1",
        "x-amz-checksum-crc32": "AAAAAA==",
    }
    check_conditions(policy, fields, "b")
    for name, bad in (
        ("key", "other/a.png"),
        ("acl", "public-read"),
        ("success_action_status", "200"),
        ("content-type", "image/png, text/html"),
    ):
        with pytest.raises(errors.AccessDenied, match="Policy Condition failed"):
            check_conditions(policy, {**fields, name: bad}, "b")
    with pytest.raises(errors.AccessDenied, match="Policy Condition failed"):
        check_conditions(policy, fields, "other-bucket")  # the bucket posted to counts


def test_a_condition_on_a_missing_field_fails_unless_it_allows_empty() -> None:
    with pytest.raises(errors.AccessDenied, match=r'\["starts-with", "\$x-amz-meta-foo", "bar"\]'):
        check_conditions(policy_of(["starts-with", "$x-amz-meta-foo", "bar"]), {}, "b")
    check_conditions(policy_of(["starts-with", "$x-amz-meta-foo", ""]), {}, "b")


def test_every_field_must_be_named_by_a_condition() -> None:
    policy = policy_of(["starts-with", "$key", ""])
    with pytest.raises(errors.AccessDenied, match="Extra input fields: x-amz-meta-foo"):
        check_conditions(policy, {"key": "k", "x-amz-meta-foo": "v"}, "b")
    with pytest.raises(errors.AccessDenied, match="Extra input fields: bucket"):
        check_conditions(policy, {"key": "k", "bucket": "b"}, "b")


def test_a_literal_dollar_is_compared_as_written() -> None:
    check_conditions(policy_of(["starts-with", "$key", "\\$foo"]), {"key": "\\$foo.txt"}, "b")


def test_content_length_range() -> None:
    check_length((2, 4), 2)
    check_length((2, 4), 4)
    check_length(None, 10**12)
    with pytest.raises(errors.EntityTooSmall) as small:
        check_length((2, 4), 1)
    assert small.value.extra == {"ProposedSize": "1", "MinSizeAllowed": "2"}
    with pytest.raises(errors.EntityTooLarge) as large:
        check_length((2, 4), 5)
    assert large.value.extra == {"ProposedSize": "5", "MaxSizeAllowed": "4"}


def test_limit_length_refuses_as_soon_as_the_top_is_passed() -> None:
    seen: list[int] = []

    async def source() -> AsyncIterator[bytes]:
        for i in range(100):
            seen.append(i)
            yield b"x" * 10

    async def run(rng: tuple[int, int]) -> int:
        total = 0
        async for piece in limit_length(source(), rng):
            total += len(piece)
        return total

    with pytest.raises(errors.EntityTooLarge):
        asyncio.run(run((0, 25)))
    assert len(seen) == 3  # the third piece crossed 25 bytes: nothing more was read
    with pytest.raises(errors.EntityTooSmall):
        asyncio.run(run((2000, 3000)))
    assert asyncio.run(run((1000, 1000))) == 1000
