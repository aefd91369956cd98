"""Every way PutBucketPolicy refuses a document, with the message S3 sends.

Messages as S3 returns them with MalformedPolicy (quoted in client bug reports, e.g.
aws/aws-cli#2779 "Policies must be valid JSON and the first byte must be '{'",
versity/versitygw#649 "Invalid principal in policy", and the S3 gateways that copied AWS's
texts). The size limit is the S3 user guide's "Bucket policies are limited to 20 KB in size"
(using-iam-policies.html); whitespace is not counted, as observed on S3.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.authz.policy import MAX_POLICY_BYTES, parse_policy
from gateway.errors import MalformedPolicy, PolicyTooLarge

BUCKET = "bkt"
ALICE = "a1" * 32
GOOD: dict[str, Any] = {
    "Sid": "S1",
    "Effect": "Allow",
    "Principal": {"AWS": ALICE},
    "Action": "s3:GetObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
}


def parse(doc: Any) -> None:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    parse_policy(text, BUCKET, lambda user_id: user_id == ALICE)


def with_statement(**changes: Any) -> dict[str, Any]:
    stmt = {k: v for k, v in GOOD.items() if changes.get(k, "") is not None}
    stmt.update({k: v for k, v in changes.items() if v is not None})
    return {"Version": "2012-10-17", "Statement": [stmt]}


def refused(doc: Any) -> str:
    with pytest.raises(MalformedPolicy) as info:
        parse(doc)
    assert info.value.status == 400 and info.value.code == "MalformedPolicy"
    return info.value.text


def test_the_good_statement_parses():
    parse(with_statement())


@pytest.mark.parametrize("text", ["", " {}", "[]", '"x"', "null", "\ufeff{}", "Policy: {}"])
def test_first_byte_must_be_a_brace(text: str):
    assert refused(text) == "Policies must be valid JSON and the first byte must be '{'"


@pytest.mark.parametrize(
    "text", ["{", '{"Version": "2012-10-17",}', "{'a': 1}", '{"a": 1, "a": 2}']
)
def test_invalid_json(text: str):
    assert refused(text) == "This policy contains invalid Json"


@pytest.mark.parametrize("version", ["2012-10-18", "", "1", 2012])
def test_bad_version(version: Any):
    assert (
        refused({"Version": version, "Statement": [GOOD]})
        == "The policy must contain a valid version string"
    )


def test_statement_missing_or_empty():
    assert refused({"Version": "2012-10-17"}) == "Missing required field Statement"
    assert (
        refused({"Version": "2012-10-17", "Statement": []})
        == "Could not parse the policy: Statement is empty!"
    )
    assert (
        refused({"Version": "2012-10-17", "Statement": "s3:*"})
        == "This policy contains invalid Json"
    )


def test_unknown_fields():
    assert (
        refused({"Version": "2012-10-17", "Statement": [GOOD], "Extra": 1}) == "Unknown field Extra"
    )
    assert refused(with_statement(Actions="s3:GetObject")) == "Unknown field Actions"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("Effect", "Missing required field Effect"),
        ("Principal", "Missing required field Principal"),
        ("Action", "Missing required field Action"),
        ("Resource", "Missing required field Resource"),
    ],
)
def test_missing_required_fields(missing: str, message: str):
    assert refused(with_statement(**{missing: None})) == message


def test_invalid_effect():
    assert refused(with_statement(Effect="allow")) == "Invalid effect: allow"


def test_both_plain_and_not_forms():
    assert "both Action and NotAction" in refused(with_statement(NotAction="s3:PutObject"))


@pytest.mark.parametrize(
    "action",
    [
        "s3:GetObjects",
        "iam:CreateUser",
        "GetObject",
        "s3:Frob*",
        "",
        [],
        ["s3:GetObject", 3],
        "ec2:*",
    ],
)
def test_invalid_action(action: Any):
    assert refused(with_statement(Action=action)) == "Policy has invalid action"


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:s3:::other-bucket/*",
        "arn:aws:s3:::bkt2",
        "arn:aws:s3:::",
        "arn:aws:s3:::/bkt/*",
        "bkt/*",
        "arn:aws:s3::tenant:bkt/*",
        "arn:aws:iam::123:root",
        [],
        "",
    ],
)
def test_invalid_resource(resource: Any):
    assert refused(with_statement(Resource=resource)) == "Policy has invalid resource"


@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": "999988887777"},  # no such user
        {"AWS": "arn:aws:iam::999988887777:root"},
        {"AWS": f"arn:aws:iam::{ALICE}:role/x"},
        {"AWS": "arn:aws:iam::*:root"},
        {"CanonicalUser": "unknown"},
        {"Group": "everyone"},
        {},
        "alice",
        ["*"],
    ],
)
def test_invalid_principal(principal: Any):
    assert refused(with_statement(Principal=principal)) == "Invalid principal in policy"


def test_not_principal_only_with_deny():
    # IAM reference: "NotPrincipal must be used with "Effect":"Deny"". Ceph s3-tests
    # test_bucket_policy_allow_notprincipal expects MalformedPolicy or InvalidArgument.
    doc = with_statement(Principal=None, NotPrincipal={"AWS": ALICE})
    assert refused(doc) == "Invalid principal in policy"
    doc["Statement"][0]["Effect"] = "Deny"
    parse(doc)


def test_action_must_fit_a_resource():
    msg = "Action does not apply to any resource(s) in statement"
    assert refused(with_statement(Action="s3:ListBucket")) == msg  # only bkt/* named
    assert refused(with_statement(Resource="arn:aws:s3:::bkt")) == msg  # GetObject, bucket only
    assert refused(with_statement(Action="s3:ListAllMyBuckets")) == msg
    parse(
        with_statement(
            Action=["s3:ListBucket", "s3:GetObject"],
            Resource=["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"],
        )
    )
    parse(with_statement(Action="s3:*", Resource="arn:aws:s3:::bkt"))  # wildcards are not checked


def test_condition_keys_must_fit_the_actions():
    # AWS: s3:prefix belongs to ListBucket; with GetObject it is refused (humanmade/S3-Uploads#239).
    msg = "Conditions do not apply to combination of actions and resources in statement"
    both = ["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"]
    prefix = {"StringLike": {"s3:prefix": "home/*"}}
    assert refused(with_statement(Condition=prefix)) == msg
    assert (
        refused(
            with_statement(
                Action=["s3:ListBucket", "s3:GetBucketAcl"], Resource=both, Condition=prefix
            )
        )
        == msg
    )
    acl = {"StringEquals": {"s3:x-amz-acl": "private"}}
    assert refused(with_statement(Action=["s3:PutObject", "s3:GetObject"], Condition=acl)) == msg
    parse(with_statement(Action="s3:ListBucket", Resource=both, Condition=prefix))
    parse(with_statement(Action="s3:PutObject", Condition=acl))
    parse(with_statement(Action="s3:List*", Resource=both, Condition=prefix))  # wildcards pass
    parse(with_statement(Condition={"StringEquals": {"aws:username": "x"}}))  # global keys fit all


@pytest.mark.parametrize(
    "operator",
    [
        "StringEqual",
        "stringequals",
        "ForSomeValues:StringEquals",
        "NullIfExists",
        "ForAnyValue:Null",
        "IfExists",
    ],
)
def test_unknown_condition_operator(operator: str):
    assert (
        refused(with_statement(Condition={operator: {"aws:username": "x"}}))
        == f"Invalid Condition type : {operator}"
    )


@pytest.mark.parametrize(
    "key", ["something-else", "s3:no-such-key", "s3:ExistingObjectTag/", "aws:", "ec2:Region"]
)
def test_invalid_condition_key(key: str):
    assert (
        refused(with_statement(Condition={"StringEquals": {key: "x"}}))
        == "Policy has an invalid condition key"
    )


@pytest.mark.parametrize("address", ["10.0.0.300", "not-an-ip", "10.0.0.0/33", "*"])
def test_invalid_ip_in_conditions(address: str):
    for operator in ("IpAddress", "NotIpAddress", "StringEquals"):
        assert refused(with_statement(Condition={operator: {"aws:SourceIp": address}})) == (
            "Invalid IP address in Conditions"
        )


@pytest.mark.parametrize(
    "condition",
    [
        [],
        {"StringEquals": []},
        {"StringEquals": {}},
        {"StringEquals": {"aws:username": []}},
        {"StringEquals": {"aws:username": {"a": 1}}},
        {"Null": {"aws:username": "maybe"}},
    ],
)
def test_condition_shape(condition: Any):
    assert refused(with_statement(Condition=condition)) == "This policy contains invalid Json"


def test_duplicate_sids():
    doc = {"Version": "2012-10-17", "Statement": [GOOD, dict(GOOD)]}
    assert refused(doc) == "Statement IDs (SID) in a single policy must be unique."


def test_size_limit_counts_content_not_whitespace():
    def doc_of(n: int) -> dict[str, Any]:
        return with_statement(Resource=[f"arn:aws:s3:::{BUCKET}/{i:06d}" for i in range(n)])

    n = 1
    while len(json.dumps(doc_of(n + 1), separators=(",", ":"))) <= MAX_POLICY_BYTES:
        n += 1
    parse(json.dumps(doc_of(n), indent=8))  # at the limit, padded with whitespace: accepted
    with pytest.raises(PolicyTooLarge) as info:
        parse(doc_of(n + 1))
    assert info.value.status == 400 and info.value.code == "PolicyTooLarge"


def test_huge_document_is_refused_before_parsing():
    with pytest.raises(PolicyTooLarge):
        parse("{" + " " * (20 * MAX_POLICY_BYTES) + "}")


@given(st.text(max_size=60))
def test_arbitrary_text_raises_only_s3_errors(text: str):
    # Anything but S3's own errors (a TypeError, a KeyError...) would fail the test.
    with contextlib.suppress(MalformedPolicy, PolicyTooLarge):
        parse(text)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_field = st.sampled_from(
    ["Effect", "Principal", "Action", "Resource", "Condition", "NotAction", "Sid"]
)


@given(st.dictionaries(_field, _json, max_size=6))
def test_arbitrary_statements_raise_only_s3_errors(statement: dict[str, Any]):
    with contextlib.suppress(MalformedPolicy, PolicyTooLarge):
        parse({"Version": "2012-10-17", "Statement": [statement]})
