"""Bucket policy evaluation, on AWS's own documented examples.

Sources (cited per test):
- S3 user guide, "Examples of Amazon S3 bucket policies"
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-bucket-policies.html
- IAM user guide, "IAM JSON policy elements: Condition operators"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- IAM user guide, "IAM policy elements: Variables and tags"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
- IAM user guide, "AWS JSON policy elements: NotPrincipal / NotAction / NotResource"
- S3 user guide, "Blocking public access", section "The meaning of 'public'"
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html
The malformed-policy cases are in test_policy_malformed.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from gateway.authz.policy import Policy, PolicyRequest, evaluate, is_public, parse_policy

BUCKET = "amzn-s3-demo-bucket"
ALICE = "a1" * 32  # canonical ids, as the key ring gives them
BOB = "b2" * 32


def known(user_id: str) -> bool:
    return user_id in (ALICE, BOB, "111122223333")


def policy(*statements: Mapping[str, Any], version: str = "2012-10-17") -> Policy:
    return parse_policy(
        json.dumps({"Version": version, "Statement": list(statements)}), BUCKET, known
    )


def ask(
    p: Policy,
    action: str,
    key: str | None = None,
    user: str | None = ALICE,
    name: str | None = "alice",
    **context: Sequence[str] | str,
) -> str | None:
    resource = f"arn:aws:s3:::{BUCKET}" + (f"/{key}" if key is not None else "")
    ctx = {k.replace("__", ":").replace("_", "-"): v for k, v in context.items()}
    return evaluate(p, PolicyRequest(action, resource, user, name, ctx))


OBJECTS = f"arn:aws:s3:::{BUCKET}/*"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"


# --- S3 user guide: "Granting read-only permission to a public anonymous user" -------------
def test_public_read_example_allows_anonymous_get_and_nothing_else():
    p = policy(
        {
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": [OBJECTS],
        }
    )
    assert ask(p, "s3:GetObject", "index.html", user=None, name=None) == "Allow"
    assert ask(p, "s3:GetObjectVersion", "a/b/c", user=BOB) == "Allow"
    assert ask(p, "s3:PutObject", "index.html", user=None, name=None) is None
    assert ask(p, "s3:ListBucket", user=None, name=None) is None  # bucket ARN not named
    assert is_public(p)


# --- S3 user guide: "Managing access based on specific IP addresses" -----------------------
def test_deny_outside_ip_ranges_example_v4_and_v6():
    p = policy(
        {
            "Sid": "IPAllow",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET_ARN, OBJECTS],
            "Condition": {
                "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:DB8:1234:5678::/64"]}
            },
        }
    )
    assert ask(p, "s3:GetObject", "k", aws__SourceIp=["192.0.2.7"]) is None
    assert ask(p, "s3:GetObject", "k", aws__SourceIp=["2001:db8:1234:5678::9"]) is None
    assert ask(p, "s3:GetObject", "k", aws__SourceIp=["198.51.100.1"]) == "Deny"
    assert ask(p, "s3:ListBucket", aws__SourceIp=["2001:db8:1234:9999::1"]) == "Deny"
    # NotIpAddress with no source IP at all: a negated operator holds on an absent key.
    assert ask(p, "s3:GetObject", "k") == "Deny"


def test_allow_ip_range_with_one_excluded_address():
    # S3 user guide (and its Billing Conductor copy): 54.240.143.0/24 except 54.240.143.188.
    p = policy(
        {
            "Sid": "IPAllow",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": OBJECTS,
            "Condition": {
                "IpAddress": {"aws:SourceIp": "54.240.143.0/24"},
                "NotIpAddress": {"aws:SourceIp": "54.240.143.188/32"},
            },
        }
    )
    assert ask(p, "s3:GetObject", "k", aws__SourceIp="54.240.143.1") == "Allow"
    assert ask(p, "s3:GetObject", "k", aws__SourceIp="54.240.143.188") is None
    assert ask(p, "s3:GetObject", "k", aws__SourceIp="54.240.144.1") is None
    assert ask(p, "s3:GetObject", "k", aws__SourceIp="not-an-ip") is None
    assert ask(p, "s3:GetObject", "k") is None  # IpAddress fails on an absent key
    assert not is_public(p)  # limited to a set of CIDRs


# --- S3 user guide: "Managing access based on HTTP or HTTPS requests" ----------------------
def test_deny_insecure_transport_example():
    p = policy(
        {
            "Sid": "RestrictToTLSRequestsOnly",
            "Action": "s3:*",
            "Effect": "Deny",
            "Resource": [BUCKET_ARN, OBJECTS],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Principal": "*",
        }
    )
    assert ask(p, "s3:PutObject", "k", aws__SecureTransport="false") == "Deny"
    assert ask(p, "s3:PutObject", "k", aws__SecureTransport="FALSE") == "Deny"
    assert ask(p, "s3:PutObject", "k", aws__SecureTransport="true") is None
    assert not is_public(p)  # a Deny grants nothing


# --- S3 user guide: "Managing user access to specific folders" (policy variables) ---------
def test_home_folder_with_username_variable():
    p = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": [ALICE, BOB]},
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"arn:aws:s3:::{BUCKET}/home/${{aws:username}}/*",
        }
    )
    assert ask(p, "s3:PutObject", "home/alice/notes.txt") == "Allow"
    assert ask(p, "s3:PutObject", "home/bob/notes.txt") is None
    assert ask(p, "s3:GetObject", "home/bob/x", user=BOB, name="bob") == "Allow"
    # A user name holding wildcard characters is matched literally.
    assert ask(p, "s3:GetObject", "home/bob/x", user=BOB, name="b*") is None


def test_variables_are_plain_text_in_the_2008_version():
    # IAM "Variables and tags": variables are only recognised with Version 2012-10-17.
    p = policy(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/home/${{aws:username}}/*",
        },
        version="2008-10-17",
    )
    assert ask(p, "s3:GetObject", "home/alice/a") is None
    assert ask(p, "s3:GetObject", "home/${aws:username}/a") == "Allow"


def test_special_literal_variables_and_missing_variable():
    # IAM "Variables and tags": ${*}, ${?} and ${$} stand for the characters themselves.
    p = policy(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": [
                f"arn:aws:s3:::{BUCKET}/literal${{*}}star",
                f"arn:aws:s3:::{BUCKET}/by/${{aws:userid}}",
            ],
        }
    )
    assert ask(p, "s3:GetObject", "literal*star") == "Allow"
    assert ask(p, "s3:GetObject", "literalXstar") is None
    assert ask(p, "s3:GetObject", f"by/{ALICE}") == "Allow"
    assert ask(p, "s3:GetObject", "by/", user=None, name=None) is None  # no aws:userid: no match


# --- S3 user guide: "Granting cross-account permissions to upload objects while ensuring
# the bucket owner has full control" (s3:x-amz-acl) ------------------------------------------
def test_require_bucket_owner_full_control_acl():
    p = policy(
        {
            "Sid": "AllowBobPutWithFullControl",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{BOB}:root"},
            "Action": "s3:PutObject",
            "Resource": OBJECTS,
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
        }
    )
    assert (
        ask(p, "s3:PutObject", "k", user=BOB, s3__x_amz_acl="bucket-owner-full-control") == "Allow"
    )
    assert ask(p, "s3:PutObject", "k", user=BOB, s3__x_amz_acl="public-read") is None
    assert ask(p, "s3:PutObject", "k", user=BOB) is None
    assert (
        ask(p, "s3:PutObject", "k", user=ALICE, s3__x_amz_acl="bucket-owner-full-control") is None
    )
    assert not is_public(p)


# --- S3 user guide: "Managing access based on object tags" ---------------------------------
def test_existing_object_tag_condition_keeps_tag_key_case():
    p = policy(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": OBJECTS,
            "Condition": {"StringEquals": {"s3:ExistingObjectTag/environment": "production"}},
        }
    )
    tag = "s3:ExistingObjectTag/environment"
    assert evaluate(p, _req("s3:GetObject", "k", {tag: ["production"]})) == "Allow"
    assert (
        evaluate(p, _req("s3:GetObject", "k", {"S3:EXISTINGOBJECTTAG/environment": ["production"]}))
        == "Allow"
    )
    assert (
        evaluate(p, _req("s3:GetObject", "k", {"s3:ExistingObjectTag/Environment": ["production"]}))
        is None
    )
    assert evaluate(p, _req("s3:GetObject", "k", {tag: ["Production"]})) is None


def test_request_object_tag_keys_for_all_values():
    # S3 user guide: ForAllValues:StringLike on s3:RequestObjectTagKeys ["Owner", "CreationDate"].
    p = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": BOB},
            "Action": "s3:PutObject",
            "Resource": OBJECTS,
            "Condition": {
                "ForAllValues:StringLike": {"s3:RequestObjectTagKeys": ["Owner", "CreationDate"]}
            },
        }
    )
    keys = "s3:RequestObjectTagKeys"
    assert evaluate(p, _req("s3:PutObject", "k", {keys: ["Owner"]}, BOB)) == "Allow"
    assert evaluate(p, _req("s3:PutObject", "k", {keys: ["Owner", "CreationDate"]}, BOB)) == "Allow"
    assert evaluate(p, _req("s3:PutObject", "k", {keys: ["Owner", "Project"]}, BOB)) is None
    # ForAllValues holds vacuously when the request has no such key (IAM condition operators).
    assert evaluate(p, _req("s3:PutObject", "k", {}, BOB)) == "Allow"


def test_for_any_value_needs_one_match_and_fails_on_absence():
    p = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": OBJECTS,
            "Condition": {
                "ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["secret", "private"]}
            },
        }
    )
    keys = "s3:RequestObjectTagKeys"
    assert evaluate(p, _req("s3:PutObject", "k", {keys: ["a", "private"]})) == "Deny"
    assert evaluate(p, _req("s3:PutObject", "k", {keys: ["a", "b"]})) is None
    assert evaluate(p, _req("s3:PutObject", "k", {})) is None


# --- S3 user guide: ListBucket limited by s3:prefix and s3:delimiter -----------------------
def test_list_bucket_prefix_and_delimiter():
    p = policy(
        {
            "Sid": "AllowRootAndHomeListingOfCompanyBucket",
            "Principal": {"AWS": BOB},
            "Action": ["s3:ListBucket"],
            "Effect": "Allow",
            "Resource": [BUCKET_ARN],
            "Condition": {
                "StringEquals": {"s3:prefix": ["", "home/", "home/bob"], "s3:delimiter": ["/"]}
            },
        }
    )
    assert ask(p, "s3:ListBucket", user=BOB, s3__prefix="home/", s3__delimiter="/") == "Allow"
    assert ask(p, "s3:ListBucket", user=BOB, s3__prefix="", s3__delimiter="/") == "Allow"
    assert ask(p, "s3:ListBucket", user=BOB, s3__prefix="home/alice", s3__delimiter="/") is None
    assert ask(p, "s3:ListBucket", user=BOB, s3__prefix="home/") is None  # both keys must hold


# --- S3 user guide: "Restricting access to a specific HTTP referer" ------------------------
def test_referer_string_like():
    p = policy(
        {
            "Sid": "Allow only GET requests originating from www.example.com and example.com.",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": OBJECTS,
            "Condition": {
                "StringLike": {"aws:Referer": ["http://www.example.com/*", "http://example.com/*"]}
            },
        }
    )
    assert ask(p, "s3:GetObject", "k", aws__Referer="http://www.example.com/page") == "Allow"
    assert ask(p, "s3:GetObject", "k", aws__Referer="http://example.com/") == "Allow"
    assert ask(p, "s3:GetObject", "k", aws__Referer="http://evil.com/http://example.com/") is None
    assert (
        ask(p, "s3:GetObject", "k", aws__Referer="HTTP://EXAMPLE.COM/x") is None
    )  # case-sensitive
    assert is_public(p)  # aws:Referer pins no caller


# --- S3 user guide: MFA example (Null, NumericGreaterThan) ---------------------------------
def test_mfa_null_and_numeric_conditions():
    p = policy(
        {
            "Sid": "RequireMFAForTaxDocuments",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{BUCKET}/taxdocuments/*",
            "Condition": {"Null": {"aws:MultiFactorAuthAge": "true"}},
        },
        {
            "Sid": "RejectOldMFA",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{BUCKET}/taxdocuments/*",
            "Condition": {"NumericGreaterThan": {"aws:MultiFactorAuthAge": 3600}},
        },
        {
            "Sid": "AllowAll",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": OBJECTS,
        },
    )
    assert ask(p, "s3:GetObject", "taxdocuments/2024.pdf") == "Deny"
    assert ask(p, "s3:GetObject", "taxdocuments/2024.pdf", aws__MultiFactorAuthAge="60") == "Allow"
    assert ask(p, "s3:GetObject", "taxdocuments/2024.pdf", aws__MultiFactorAuthAge="7200") == "Deny"
    assert ask(p, "s3:GetObject", "other") == "Allow"


# --- S3 user guide: require server-side encryption (Null / StringNotEquals) ----------------
def test_deny_unencrypted_uploads():
    p = policy(
        {
            "Sid": "DenyIncorrectEncryptionHeader",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": OBJECTS,
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}},
        },
        {
            "Sid": "DenyUnEncryptedObjectUploads",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": OBJECTS,
            "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
        },
    )
    assert ask(p, "s3:PutObject", "k") == "Deny"
    assert ask(p, "s3:PutObject", "k", s3__x_amz_server_side_encryption="aws:kms") == "Deny"
    assert ask(p, "s3:PutObject", "k", s3__x_amz_server_side_encryption="AES256") is None


# --- IAM condition operators page ------------------------------------------------------------
def test_numeric_operators_on_max_keys():
    # IAM page: "NumericLessThanEquals": {"s3:max-keys": "10"}
    p = policy(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:ListBucket",
            "Resource": BUCKET_ARN,
            "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}},
        }
    )
    assert ask(p, "s3:ListBucket", s3__max_keys="10") == "Allow"
    assert ask(p, "s3:ListBucket", s3__max_keys="2.5") == "Allow"
    assert ask(p, "s3:ListBucket", s3__max_keys="11") is None
    assert ask(p, "s3:ListBucket", s3__max_keys="ten") is None
    assert ask(p, "s3:ListBucket", s3__max_keys="-inf") is None  # not a JSON number
    assert ask(p, "s3:ListBucket", s3__max_keys="1_0") is None
    assert ask(p, "s3:ListBucket", s3__max_keys="1e1") == "Allow"
    assert ask(p, "s3:ListBucket") is None


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("NumericEquals", "5", True),
        ("NumericEquals", "6", False),
        ("NumericNotEquals", "6", True),
        ("NumericNotEquals", "5", False),
        ("NumericLessThan", "4", True),
        ("NumericLessThan", "5", False),
        ("NumericGreaterThan", "6", True),
        ("NumericGreaterThanEquals", "5", True),
        ("NumericGreaterThanEquals", "4", False),
    ],
)
def test_numeric_operator_table(operator: str, value: str, expected: bool):
    p = _conditioned({operator: {"s3:max-keys": "5"}}, action="s3:ListBucket", resource=BUCKET_ARN)
    assert (ask(p, "s3:ListBucket", s3__max_keys=value) == "Allow") is expected


@pytest.mark.parametrize(
    ("operator", "now", "expected"),
    [
        ("DateGreaterThan", "2020-01-01T00:00:02Z", True),
        ("DateGreaterThan", "2020-01-01T00:00:01Z", False),
        ("DateGreaterThanEquals", "2020-01-01T00:00:01Z", True),
        ("DateLessThan", "2019-12-31T23:59:59Z", True),
        ("DateLessThan", "2021-01-01T00:00:00Z", False),
        ("DateLessThanEquals", "2020-01-01T00:00:01+00:00", True),
        ("DateEquals", "1577836801", True),  # epoch seconds are dates too
        ("DateNotEquals", "2020-01-01T00:00:01Z", False),
        ("DateEquals", "yesterday", False),
    ],
)
def test_date_operator_table(operator: str, now: str, expected: bool):
    # IAM page: "DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}
    p = _conditioned({operator: {"aws:CurrentTime": "2020-01-01T00:00:01Z"}})
    assert (ask(p, "s3:GetObject", "k", aws__CurrentTime=now) == "Allow") is expected


def test_current_time_defaults_to_now():
    past = _conditioned({"DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}})
    future = _conditioned({"DateGreaterThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"}})
    assert ask(past, "s3:GetObject", "k") == "Allow"
    assert ask(future, "s3:GetObject", "k") is None
    epoch = _conditioned({"NumericGreaterThan": {"aws:EpochTime": "946684800"}})
    assert ask(epoch, "s3:GetObject", "k") == "Allow"


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("StringEquals", "Production", True),
        ("StringEquals", "production", False),
        ("StringNotEquals", "production", True),
        ("StringNotEquals", "Production", False),
        ("StringEqualsIgnoreCase", "PRODUCTION", True),
        ("StringNotEqualsIgnoreCase", "PRODUCTION", False),
        ("StringNotEqualsIgnoreCase", "staging", True),
        ("StringLike", "Production", True),
        ("StringNotLike", "Production", False),
    ],
)
def test_string_operator_table(operator: str, value: str, expected: bool):
    p = _conditioned({operator: {"aws:ResourceTag/env": "Production"}})
    assert (ask(p, "s3:GetObject", "k", **{"aws__ResourceTag/env": value}) == "Allow") is expected


def test_string_like_wildcards_and_ignore_case_keys():
    p = _conditioned({"StringLike": {"AWS:USERAGENT": ["aws-cli/2.*", "Boto3/1.?.0*"]}})
    assert ask(p, "s3:GetObject", "k", aws__UserAgent="aws-cli/2.15.0 Python/3.11") == "Allow"
    assert ask(p, "s3:GetObject", "k", aws__useragent="Boto3/1.9.0 x") == "Allow"
    assert ask(p, "s3:GetObject", "k", aws__UserAgent="Boto3/1.10.0") is None
    assert ask(p, "s3:GetObject", "k", aws__UserAgent="aws-cli/1.0") is None


def test_string_like_with_username_variable_on_prefix():
    # IAM page: "StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}
    p = _conditioned(
        {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}},
        "s3:ListBucket",
        BUCKET_ARN,
    )
    assert ask(p, "s3:ListBucket", s3__prefix="home/alice/photos") == "Allow"
    assert ask(p, "s3:ListBucket", s3__prefix="home/bob/") is None
    assert ask(p, "s3:ListBucket", s3__prefix="") == "Allow"
    assert ask(p, "s3:ListBucket", user=None, name=None, s3__prefix="home/x/") is None


def test_string_equals_with_variable():
    p = _conditioned(
        {"StringEquals": {"s3:prefix": "home/${aws:username}"}}, "s3:ListBucket", BUCKET_ARN
    )
    assert ask(p, "s3:ListBucket", s3__prefix="home/alice") == "Allow"
    assert ask(p, "s3:ListBucket", s3__prefix="home/bob") is None


def test_if_exists_passes_when_key_absent():
    # Ceph s3-tests test_bucket_policy_set_condition_operator_end_with_IfExists phrases it so.
    p = _conditioned({"StringLikeIfExists": {"aws:Referer": "http://www.example.com/*"}})
    assert ask(p, "s3:GetObject", "k") == "Allow"
    assert ask(p, "s3:GetObject", "k", aws__Referer="http://www.example.com/") == "Allow"
    assert ask(p, "s3:GetObject", "k", aws__Referer="http://www.example.org/") is None


def test_bool_and_binary_operators():
    p = _conditioned({"Bool": {"aws:SecureTransport": True}})  # JSON true is stringified
    assert ask(p, "s3:GetObject", "k", aws__SecureTransport="true") == "Allow"
    assert ask(p, "s3:GetObject", "k", aws__SecureTransport="false") is None
    b = _conditioned({"BinaryEquals": {"aws:ResourceTag/blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}})
    assert (
        ask(b, "s3:GetObject", "k", **{"aws__ResourceTag/blob": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="})
        == "Allow"
    )
    assert ask(b, "s3:GetObject", "k", **{"aws__ResourceTag/blob": "eA=="}) is None


def test_arn_operators_match_each_part():
    # IAM page: "ArnLike": {"aws:SourceArn": "arn:aws:sns:REGION:123456789012:TOPIC-ID"}; Ceph's
    # logging tests use "ArnLike": {"aws:SourceArn": "arn:aws:s3:::<bucket>"}.
    p = _conditioned({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::source-*"}})
    assert ask(p, "s3:GetObject", "k", aws__SourceArn="arn:aws:s3:::source-logs") == "Allow"
    assert ask(p, "s3:GetObject", "k", aws__SourceArn="arn:aws:s3:::other") is None
    assert ask(p, "s3:GetObject", "k", aws__SourceArn="arn:aws:s3") is None  # not an ARN
    e = _conditioned({"ArnEquals": {"aws:SourceArn": "arn:aws:sns:*:123456789012:topic"}})
    assert (
        ask(e, "s3:GetObject", "k", aws__SourceArn="arn:aws:sns:us-east-1:123456789012:topic")
        == "Allow"
    )
    # A wildcard stays inside its part: '*' in the region cannot eat the account's colon.
    assert ask(e, "s3:GetObject", "k", aws__SourceArn="arn:aws:sns:a:b:123456789012:topic") is None
    n = _conditioned({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::source-*"}})
    assert ask(n, "s3:GetObject", "k", aws__SourceArn="arn:aws:s3:::other") == "Allow"
    assert ask(n, "s3:GetObject", "k") == "Allow"  # negated: absent key holds


def test_negated_operator_over_several_request_values():
    p = _conditioned({"StringNotEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}})
    keys = "s3:RequestObjectTagKeys"
    assert evaluate(p, _req("s3:GetObject", "k", {keys: ["c", "d"]})) == "Allow"
    assert evaluate(p, _req("s3:GetObject", "k", {keys: ["c", "a"]})) is None
    all_not = _conditioned({"ForAllValues:StringNotEquals": {keys: ["a", "b"]}})
    assert evaluate(all_not, _req("s3:GetObject", "k", {keys: ["c", "d"]})) == "Allow"
    assert evaluate(all_not, _req("s3:GetObject", "k", {keys: ["c", "a"]})) is None
    any_not = _conditioned({"ForAnyValue:StringNotEquals": {keys: ["a", "b"]}})
    assert evaluate(any_not, _req("s3:GetObject", "k", {keys: ["c", "a"]})) == "Allow"
    assert evaluate(any_not, _req("s3:GetObject", "k", {keys: ["a", "b"]})) is None


def test_null_false_requires_the_key():
    p = _conditioned({"Null": {"s3:x-amz-server-side-encryption": "false"}})
    assert ask(p, "s3:GetObject", "k", s3__x_amz_server_side_encryption="AES256") == "Allow"
    assert ask(p, "s3:GetObject", "k") is None


def test_all_keys_and_all_operators_must_hold():
    p = _conditioned(
        {
            "StringEquals": {"s3:x-amz-acl": "private", "s3:x-amz-storage-class": "STANDARD"},
            "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
        },
        action="s3:PutObject",
    )
    full = {
        "s3__x_amz_acl": "private",
        "s3__x_amz_storage_class": "STANDARD",
        "aws__SourceIp": "10.1.2.3",
    }
    assert ask(p, "s3:PutObject", "k", **full) == "Allow"
    for missing in full:
        assert (
            ask(p, "s3:PutObject", "k", **{k: v for k, v in full.items() if k != missing}) is None
        )


# --- principals --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": ALICE},
        {"AWS": [BOB, ALICE]},
        {"AWS": f"arn:aws:iam::{ALICE}:root"},
        {"AWS": f"arn:aws:iam::{ALICE}:user/alice"},
        {"CanonicalUser": ALICE},
        {"CanonicalUser": [ALICE], "Service": "logging.s3.amazonaws.com"},
    ],
)
def test_principal_forms_name_alice_only(principal: dict[str, Any]):
    p = policy(
        {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": OBJECTS}
    )
    assert ask(p, "s3:GetObject", "k", user=ALICE, name="alice") == "Allow"
    assert ask(p, "s3:GetObject", "k", user=BOB, name="bob") == (
        None if BOB not in str(principal) else "Allow"
    )
    assert ask(p, "s3:GetObject", "k", user=None, name=None) is None
    assert not is_public(p)


def test_user_arn_needs_the_user_name_too():
    p = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ALICE}:user/alice"},
            "Action": "s3:GetObject",
            "Resource": OBJECTS,
        }
    )
    assert ask(p, "s3:GetObject", "k", user=ALICE, name="mallory") is None


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*"]}, {"CanonicalUser": "*"}])
def test_wildcard_principals_include_anonymous(principal: Any):
    p = policy(
        {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": OBJECTS}
    )
    assert ask(p, "s3:GetObject", "k", user=None, name=None) == "Allow"
    assert ask(p, "s3:GetObject", "k", user=BOB) == "Allow"
    assert is_public(p)


def test_service_principal_matches_no_user():
    # Ceph s3-tests' logging tests: {"Service": "logging.s3.amazonaws.com"}.
    p = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": ["s3:PutObject"],
            "Resource": f"arn:aws:s3:::{BUCKET}/log/",
            "Condition": {
                "ArnLike": {"aws:SourceArn": "arn:aws:s3:::src"},
                "StringEquals": {"aws:SourceAccount": ALICE},
            },
        }
    )
    assert (
        ask(p, "s3:PutObject", "log/", aws__SourceArn="arn:aws:s3:::src", aws__SourceAccount=ALICE)
        is None
    )
    assert not is_public(p)


def test_not_principal_deny_everyone_but_alice():
    # IAM "NotPrincipal": Deny to all principals except the one named.
    p = policy(
        {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": ALICE},
            "Action": "s3:*",
            "Resource": [BUCKET_ARN, OBJECTS],
        },
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": OBJECTS},
    )
    assert ask(p, "s3:GetObject", "k", user=ALICE) == "Allow"
    assert ask(p, "s3:GetObject", "k", user=BOB, name="bob") == "Deny"
    assert ask(p, "s3:GetObject", "k", user=None, name=None) == "Deny"


# --- actions and resources ---------------------------------------------------------------------
def test_action_wildcards_are_case_insensitive():
    p = policy(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:Get*", "S3:LISTBUCKET"],
            "Resource": "*",
        }
    )
    assert ask(p, "s3:GetObject", "k") == "Allow"
    assert ask(p, "s3:getobjecttagging", "k") == "Allow"
    assert ask(p, "s3:ListBucket") == "Allow"
    assert ask(p, "s3:PutObject", "k") is None
    q = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:?etObject", "Resource": OBJECTS})
    assert ask(q, "s3:GetObject", "k") == "Allow"
    assert ask(q, "s3:SetObject", "k") == "Allow"  # '?' is any one character
    assert ask(q, "s3:GetObjectAcl", "k") is None
    star = policy({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": OBJECTS})
    assert ask(star, "s3:DeleteObject", "k") == "Allow"


def test_not_action_applies_to_every_other_action():
    # IAM "NotAction": Deny everything but s3:GetObject.
    p = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "NotAction": "s3:GetObject",
            "Resource": [BUCKET_ARN, OBJECTS],
        },
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": [BUCKET_ARN, OBJECTS]},
    )
    assert ask(p, "s3:GetObject", "k") == "Allow"
    assert ask(p, "s3:PutObject", "k") == "Deny"
    assert ask(p, "s3:ListBucket") == "Deny"


def test_resource_wildcards_are_case_sensitive_and_span_slashes():
    p = policy(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/pub/*.jpg",
        }
    )
    assert ask(p, "s3:GetObject", "pub/a/b/c.jpg") == "Allow"
    assert ask(p, "s3:GetObject", "pub/a.JPG") is None
    assert ask(p, "s3:GetObject", "PUB/a.jpg") is None
    assert ask(p, "s3:GetObject", "pub/[a].jpg") == "Allow"  # '[' is no class: nothing but * ?
    q = policy(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/f?le.[ch]",
        }
    )
    assert ask(q, "s3:GetObject", "file.[ch]") == "Allow"
    assert ask(q, "s3:GetObject", "file.c") is None


def test_not_resource():
    p = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:GetObject",
            "NotResource": f"arn:aws:s3:::{BUCKET}/public/*",
        }
    )
    assert ask(p, "s3:GetObject", "private/x") == "Deny"
    assert ask(p, "s3:GetObject", "public/x") is None


def test_bucket_resource_does_not_cover_objects_and_vice_versa():
    p = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": BUCKET_ARN})
    assert ask(p, "s3:ListBucket") == "Allow"
    assert ask(p, "s3:GetObject", "k") is None


def test_explicit_deny_wins_whatever_the_order():
    allow = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": OBJECTS}
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": BOB},
        "Action": "s3:DeleteObject",
        "Resource": OBJECTS,
    }
    for p in (policy(allow, deny), policy(deny, allow)):
        assert ask(p, "s3:DeleteObject", "k", user=BOB) == "Deny"
        assert ask(p, "s3:DeleteObject", "k", user=ALICE) == "Allow"


def test_statement_object_instead_of_list_and_default_version():
    text = json.dumps(
        {
            "Statement": {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": OBJECTS,
            }
        }
    )
    p = parse_policy(text, BUCKET, known)
    assert p.version == "2008-10-17"
    assert p.text == text
    assert ask(p, "s3:GetObject", "k") == "Allow"


def test_wildcard_bucket_part_and_star_resource_are_accepted():
    p = policy(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::amzn-s3-*/*",
        },
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "*"},
    )
    assert ask(p, "s3:GetObject", "k") == "Allow"
    assert ask(p, "s3:ListBucket") == "Allow"


# --- "The meaning of public" (S3 user guide, Blocking public access) ------------------------
@pytest.mark.parametrize(
    ("condition", "public"),
    [
        (None, True),
        (
            {"IpAddress": {"aws:SourceIp": "10.0.0.0/32"}},
            False,
        ),  # Ceph test_get_nonpublicpolicy_acl...
        ({"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:DB8::/64"]}}, False),
        ({"IpAddress": {"aws:SourceIp": "0.0.0.0/1"}}, True),  # wider than /8: our cut-off
        ({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, True),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, True),
        ({"StringEquals": {"aws:SourceAccount": "111122223333"}}, False),
        ({"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::src"}}, False),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}}, True),
        ({"StringEquals": {"aws:SourceVpc": "vpc-111bbb22"}}, False),
        ({"StringEquals": {"aws:PrincipalOrgID": "o-123"}}, False),
        ({"StringEqualsIfExists": {"aws:SourceVpc": "vpc-111bbb22"}}, True),
        ({"StringLike": {"aws:userid": "AROLEID:*"}}, True),
        ({"StringEquals": {"aws:userid": "AIDAEXAMPLE"}}, False),
        (
            {"StringEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:k"}},
            False,
        ),
        ({"StringEquals": {"s3:ExistingObjectTag/public": "yes"}}, True),
        ({"StringLike": {"aws:Referer": "http://example.com/*"}}, True),
    ],
)
def test_is_public_follows_s3_definition(condition: dict[str, Any] | None, public: bool):
    stmt: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "s3:GetObject",
        "Resource": OBJECTS,
    }
    if condition:
        stmt["Condition"] = condition
    assert is_public(policy(stmt)) is public


def test_one_public_statement_makes_the_policy_public():
    fixed = {"Effect": "Allow", "Principal": {"AWS": BOB}, "Action": "s3:*", "Resource": OBJECTS}
    open_ = {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": BUCKET_ARN}
    assert not is_public(policy(fixed))
    assert is_public(policy(fixed, open_))


# --- helpers -------------------------------------------------------------------------------------
def _req(
    action: str, key: str, context: Mapping[str, Sequence[str]], user: str | None = ALICE
) -> PolicyRequest:
    return PolicyRequest(action, f"arn:aws:s3:::{BUCKET}/{key}", user, "alice", context)


def _conditioned(
    condition: Mapping[str, Any], action: str = "s3:GetObject", resource: str = OBJECTS
) -> Policy:
    return policy(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": action,
            "Resource": resource,
            "Condition": condition,
        }
    )


def test_answers_do_not_depend_on_which_caller_came_first():
    """The per-action statement index is built on first use: later callers must not reuse
    another caller's view (ids, user names, anonymous, NotPrincipal)."""
    p = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{BOB}:user/bob"},
            "Action": "s3:*",
            "Resource": OBJECTS,
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": ALICE},
            "Action": "s3:GetObject",
            "Resource": OBJECTS,
        },
        {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": [ALICE, BOB]},
            "Action": "s3:*",
            "Resource": OBJECTS,
        },
    )
    cases = [
        (BOB, "bob", "s3:GetObject", "Allow"),
        (BOB, "robert", "s3:GetObject", None),  # id right, user name wrong
        (ALICE, "alice", "s3:GetObject", "Allow"),
        (ALICE, "alice", "s3:PutObject", None),
        (None, None, "s3:GetObject", "Deny"),
        ("c3" * 32, "carol", "s3:GetObject", "Deny"),
        (BOB, "bob", "s3:SomeFutureAction", "Allow"),  # not a known action: s3:* still covers it
    ]
    for order in (cases, list(reversed(cases))):
        fresh = parse_policy(p.text, BUCKET, known)
        for user, name, action, expected in order:
            assert ask(fresh, action, "k", user=user, name=name) == expected, (user, name, action)


def test_condition_variables_only_in_2012_and_missing_ones_do_not_match():
    cond = {"StringEquals": {"s3:prefix": "home/${aws:username}"}}
    stmt = {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": BUCKET_ARN}
    old = policy({**stmt, "Condition": cond}, version="2008-10-17")
    assert ask(old, "s3:ListBucket", s3__prefix="home/alice") is None
    assert ask(old, "s3:ListBucket", s3__prefix="home/${aws:username}") == "Allow"
    new = policy({**stmt, "Condition": cond})
    assert ask(new, "s3:ListBucket", user=None, name=None, s3__prefix="home/") is None
    like = policy({**stmt, "Condition": {"StringLike": {"s3:prefix": "${s3:delimiter}*"}}})
    assert ask(like, "s3:ListBucket", s3__prefix="/a", s3__delimiter="/") == "Allow"
    assert ask(like, "s3:ListBucket", s3__prefix="/a") is None  # no delimiter: no value
