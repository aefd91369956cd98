"""When a decision reads the object for s3:ExistingObjectTag: only when a statement that
names such a key can apply (its action, its principal, its resource). A policy with tag
conditions on other prefixes or actions must not cost every request a metadata read (the
20-statement benchmark policy did: its GETs and PUTs read the object head first), and a
statement that can apply must still get the tags (a Deny on a tag cannot be skipped)."""

from __future__ import annotations

import json

import pytest

from gateway.authz import policies
from gateway.authz.policy import parse_policy

OWNER = "a" * 64
OTHER = "b" * 64
BUCKET = "tagged"
ARN = f"arn:aws:s3:::{BUCKET}"


def _policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _tag_statement(
    resource: str = f"{ARN}/secret/*",
    action: object = "s3:GetObject",
    principal: object = "*",
    effect: str = "Deny",
    condition_key: str = "s3:ExistingObjectTag/level",
) -> dict[str, object]:
    return {
        "Effect": effect,
        "Principal": principal,
        "Action": action,
        "Resource": resource,
        "Condition": {"StringEquals": {condition_key: "high"}},
    }


PLAIN = {"Effect": "Allow", "Principal": {"AWS": OWNER}, "Action": "s3:*", "Resource": f"{ARN}/*"}


def _reads(text: str, action: str, key: str, user: str | None = OWNER) -> bool:
    asks = [(action, f"{ARN}/{key}")]
    return policies.reads_existing_tags(text, BUCKET, asks, user, "name")


def test_no_policy_and_a_policy_without_tag_keys_read_nothing() -> None:
    assert not policies.reads_existing_tags(None, BUCKET, [("s3:GetObject", ARN)], OWNER, None)
    assert not _reads(_policy(PLAIN), "s3:GetObject", "secret/x")


@pytest.mark.parametrize(
    ("action", "key", "user", "reads"),
    [
        ("s3:GetObject", "secret/x", OWNER, True),  # the statement applies: read the tags
        ("s3:GetObject", "secret/x", None, True),  # anonymous too ("*")
        ("s3:GetObject", "public/x", OWNER, False),  # another prefix
        ("s3:PutObject", "secret/x", OWNER, False),  # another action
    ],
)
def test_tags_are_read_only_where_a_tag_statement_can_apply(
    action: str, key: str, user: str | None, reads: bool
) -> None:
    text = _policy(PLAIN, _tag_statement())
    assert _reads(text, action, key, user) is reads


def test_a_statement_for_another_principal_reads_nothing_for_this_caller() -> None:
    text = _policy(PLAIN, _tag_statement(principal={"AWS": OTHER}))
    assert not _reads(text, "s3:GetObject", "secret/x", OWNER)
    assert _reads(text, "s3:GetObject", "secret/x", OTHER)


def test_wildcard_actions_and_not_resource_are_answered_conservatively() -> None:
    wild = _policy(_tag_statement(action="s3:Get*"))
    assert _reads(wild, "s3:GetObject", "secret/x")
    assert not _reads(wild, "s3:PutObject", "secret/x")
    negated = _tag_statement()
    negated["NotResource"] = negated.pop("Resource")
    assert _reads(_policy(negated), "s3:GetObject", "public/x")  # NotResource: covered


def test_a_variable_in_the_resource_counts_as_covering() -> None:
    text = _policy(_tag_statement(resource=f"{ARN}/home/${{aws:username}}/*"))
    assert _reads(text, "s3:GetObject", "anything")


def test_the_tag_key_named_only_in_a_policy_variable_still_reads() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"{ARN}/*",
        "Condition": {"StringEquals": {"aws:username": "${s3:ExistingObjectTag/owner}"}},
    }
    assert _reads(_policy(statement), "s3:GetObject", "x")


def test_the_key_is_found_through_json_escapes_and_any_case() -> None:
    """The text's spelling does not matter: the parsed statement is what is searched (a
    JSON-escaped slash, ``ExistingObjectTag\\/k``, escaped the old text search)."""
    text = _policy(_tag_statement(condition_key="S3:existingOBJECTtag/level"))
    escaped = text.replace("tag/level", "tag\\/\\u006cevel")
    assert "s3:existingobjecttag/" not in escaped.lower()  # what the text search looked for
    for spelling in (text, escaped):
        assert _reads(spelling, "s3:GetObject", "secret/x")
    assert parse_policy(escaped, BUCKET, lambda _id: True).reads_tags


def test_any_of_several_decisions_may_need_the_tags() -> None:
    """A PUT with lock headers decides s3:PutObject and s3:PutObjectRetention on one
    context: a tag statement on either means the tags are read."""
    text = _policy(PLAIN, _tag_statement(action="s3:PutObjectRetention"))
    put = ("s3:PutObject", f"{ARN}/secret/x")
    retention = ("s3:PutObjectRetention", f"{ARN}/secret/x")
    assert not policies.reads_existing_tags(text, BUCKET, [put], OWNER, None)
    assert policies.reads_existing_tags(text, BUCKET, [put, retention], OWNER, None)
