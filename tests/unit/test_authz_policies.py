"""gateway.authz.policies: what the authorization step asks of a bucket's policy text."""

from __future__ import annotations

import json

import pytest

from gateway.authz import policies

OWNER = "a" * 64
OTHER = "b" * 64
BUCKET = "shared"


def _policy(principal: object, action: object = "s3:PutObject", effect: str = "Allow") -> str:
    statement = {
        "Effect": effect,
        "Principal": principal,
        "Action": action,
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.mark.parametrize(
    ("principal", "action", "effect", "others_write"),
    [
        ({"AWS": OWNER}, "s3:PutObject", "Allow", False),  # the owner writes anyway
        ({"AWS": f"arn:aws:iam::{OWNER}:root"}, ["s3:PutObject"], "Allow", False),
        ({"AWS": OTHER}, "s3:PutObject", "Allow", True),
        ({"AWS": [OWNER, OTHER]}, "s3:*", "Allow", True),
        ("*", "s3:PutObject", "Allow", True),
        ({"AWS": OTHER}, "s3:GetObject", "Allow", False),  # reads only
        ({"AWS": OTHER}, "s3:PutObject", "Deny", False),
    ],
)
def test_only_writes_granted_to_someone_but_the_owner_count(
    principal: object, action: object, effect: str, others_write: bool
) -> None:
    """An Allow of writes to the owner alone cannot put another owner's object in the
    bucket, so the owner's GETs need not read the object's owner first (a 20-statement
    policy naming the owner cost every owner GET an extra metadata read)."""
    text = _policy(principal, action, effect)
    assert policies.may_allow_writes(text, BUCKET, OWNER) is others_write


@pytest.mark.parametrize(
    ("operator", "verdict"), [("DateLessThan", "Allow"), ("DateGreaterThan", None)]
)
def test_current_time_conditions_read_the_time_of_evaluation(
    operator: str, verdict: str | None
) -> None:
    """The request context leaves aws:CurrentTime to the engine (filled when read): a
    policy valid until 2999 applies now, one from 2999 on does not."""
    from gateway.authz import conditions
    from gateway.authz.caller import Caller
    from gateway.routing import Endpoint

    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": OTHER},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
        "Condition": {operator: {"aws:CurrentTime": "2999-01-01T00:00:00Z"}},
    }
    text = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    caller = Caller(OTHER, "other", "AK", lambda _b: frozenset())
    endpoint = Endpoint("GetObject", BUCKET, "k", {})
    context = conditions.Lazy(lambda: conditions.build(endpoint, {}, caller, "127.0.0.1", False))
    resource = f"arn:aws:s3:::{BUCKET}/k"
    got = policies.evaluate(text, BUCKET, "s3:GetObject", resource, OTHER, "other", context)
    assert got == verdict
