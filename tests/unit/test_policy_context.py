"""The gateway's condition context (gateway.authz.conditions) hands the policy engine keys
already normalized, which the engine reads in place instead of copying the context per
evaluation. The decisions must be those of a plain context spelled as AWS spells keys."""

from __future__ import annotations

import json

import pytest

from gateway.authz import conditions
from gateway.authz.caller import ALL_RIGHTS, ANONYMOUS, Caller
from gateway.authz.policy import PolicyRequest, evaluate, normalize_key, parse_policy
from gateway.routing import Endpoint

BUCKET = "ctx"
ARN = f"arn:aws:s3:::{BUCKET}"
USER = Caller("u" * 64, "alice", "AK", lambda _b: ALL_RIGHTS)
HEADERS = {
    "authorization": "AWS4-HMAC-SHA256 Credential=x",
    "user-agent": "Boto3/1.35",
    "referer": "https://example.com/page",
    "x-amz-acl": "public-read",
    "x-amz-tagging": "Team=Blue&x=1",
    "x-amz-object-lock-mode": "GOVERNANCE",
}


def _lazy(caller: Caller, ip: str, tags: dict[str, str]) -> conditions.Lazy:
    endpoint = Endpoint("PutObject", BUCKET, "k", {"versionId": "v1"})
    return conditions.Lazy(lambda: conditions.build(endpoint, HEADERS, caller, ip, True, tags))


def test_every_key_is_already_normalized() -> None:
    context = _lazy(USER, "127.0.0.1", {"Level": "High"})
    assert context.keys_normalized
    assert all(key == normalize_key(key) for key in context)
    assert context["s3:requestobjecttag/Team"] == ["Blue"]  # the tag key keeps its case
    assert context["s3:existingobjecttag/Level"] == ["High"]
    assert context.get("aws:sourceip") == ["127.0.0.1"] and context.get("nope") is None


CONDITIONS = [
    {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
    {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringEquals": {"s3:x-amz-acl": "public-read"}},
    {"StringEquals": {"s3:RequestObjectTag/Team": "Blue"}},
    {"StringEquals": {"s3:requestobjecttag/team": "Blue"}},  # another tag key: absent
    {"StringEquals": {"s3:ExistingObjectTag/Level": "High"}},
    {"StringLike": {"aws:UserAgent": "Boto3*"}},
    {"StringEquals": {"aws:username": "alice"}},
    {"StringEquals": {"aws:PrincipalType": "Anonymous"}},
    {"StringEquals": {"s3:VersionId": "v1"}},
    {"StringEquals": {"s3:object-lock-mode": "GOVERNANCE"}},
    {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": "x"}},
    {"StringEquals": {"s3:authType": "REST-HEADER"}},
    {"StringEqualsIfExists": {"aws:Referer": "https://example.com/page"}},
    {"Null": {"aws:SourceIp": "true"}},
    {"DateLessThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"}},
]


@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: json.dumps(c)[:60])
@pytest.mark.parametrize("caller", [USER, ANONYMOUS], ids=["user", "anonymous"])
@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.1.1"])
def test_decisions_equal_those_on_a_plain_aws_spelled_context(
    condition: dict[str, object], caller: Caller, ip: str
) -> None:
    home = {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject"}
    statements = [
        {**home, "Resource": f"{ARN}/*", "Condition": condition},
        {**home, "Resource": f"{ARN}/home/${{aws:username}}/${{s3:RequestObjectTag/Team}}"},
    ]
    policy = parse_policy(
        json.dumps({"Version": "2012-10-17", "Statement": statements}), BUCKET, lambda _id: True
    )
    lazy = _lazy(caller, ip, {"Level": "High"})
    plain = dict(lazy.items())  # a plain dict: the engine normalizes it itself
    spelled = {
        key.replace("aws:sourceip", "aws:SourceIp").replace("s3:authtype", "s3:authType"): v
        for key, v in plain.items()
    }
    for key in ("k", "home/alice/Blue", "home/bob/Blue"):
        asked = [
            evaluate(policy, PolicyRequest("s3:PutObject", f"{ARN}/{key}", caller.user_id,
                                           caller.display_name, context))
            for context in (lazy, plain, spelled)
        ]  # fmt: skip
        assert asked[0] == asked[1] == asked[2], (key, asked)
