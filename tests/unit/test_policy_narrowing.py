"""gateway.authz.policies keeps narrowed copies of a policy (the statements naming one
action; only its Denies for the bucket owner). Each copy must answer from its own
statements: they once shared the full policy's per-action index, so whichever copy was
asked first answered for both (an owner's GET, which looks at Denies only, left another
user's policy-allowed GET with no Allow: AccessDenied until the process restarted)."""

from __future__ import annotations

import json
import random

import pytest

from gateway.authz import policies
from gateway.authz.policy import PolicyRequest, evaluate, parse_policy
from gateway.errors import MalformedPolicy

BUCKET = "narrowed"
OWNER = "o" * 64
OTHER = "p" * 64
ARN = f"arn:aws:s3:::{BUCKET}"


def _text() -> str:
    statements = [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{ARN}/no/*"},
        {"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "s3:Get*", "Resource": f"{ARN}/*"},
    ]  # fmt: skip
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@pytest.mark.parametrize("owner_first", [True, False])
def test_denies_only_and_full_answers_do_not_leak_into_each_other(owner_first: bool) -> None:
    text = _text() + " " * owner_first  # a distinct text per case: a cold cache each time

    def owner(key: str) -> str | None:
        return policies.evaluate(
            text, BUCKET, "s3:GetObject", f"{ARN}/{key}", OWNER, "o", {}, denies_only=True
        )

    def other(key: str) -> str | None:
        return policies.evaluate(text, BUCKET, "s3:GetObject", f"{ARN}/{key}", OTHER, "p", {})

    asks = [lambda: owner("k"), lambda: other("k")]
    answers = [ask() for ask in (asks if owner_first else reversed(asks))]
    assert sorted(answers, key=str) == sorted([None, "Allow"], key=str)
    assert owner("k") is None  # denies only: the Allow is not its to see
    assert other("k") == "Allow"
    assert owner("no/k") == "Deny" and other("no/k") == "Deny"


ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
ACTION_PATTERNS = [*ACTIONS, "s3:*", "s3:Get*", "s3:*Object", ["s3:GetObject", "s3:PutObject"]]
USERS = [OWNER, OTHER, None]
RESOURCES = [ARN, f"{ARN}/*", f"{ARN}/a/*", f"{ARN}/a/?", "*"]
KEYS = ["a/b", "a/bc", "c", None]


def _random_statement(rng: random.Random) -> dict[str, object]:
    principal = rng.choice(["*", {"AWS": OWNER}, {"AWS": OTHER}, {"AWS": [OWNER, OTHER]}])
    statement: dict[str, object] = {
        "Effect": rng.choice(["Allow", "Deny"]),
        "Principal": principal,
        "Action": rng.choice(ACTION_PATTERNS),
        "NotResource" if rng.random() < 0.2 else "Resource": rng.choice(RESOURCES),
    }
    if rng.random() < 0.3:
        statement["Condition"] = {
            "IpAddress": {"aws:SourceIp": rng.choice(["10.0.0.0/8", "127.0.0.1/32"])}
        }
    return statement  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_the_cached_narrowed_answers_equal_the_plain_evaluator(seed: int) -> None:
    """Random policies, asked in random order through the caches: each answer equals the
    engine's on the whole, freshly parsed policy (for denies_only, its Deny or None)."""
    rng = random.Random(seed)
    statements = [_random_statement(rng) for _ in range(rng.randint(1, 8))]
    text = json.dumps({"Version": "2012-10-17", "Statement": statements})
    try:
        parse_policy(text, BUCKET, lambda _id: True)
    except MalformedPolicy:
        statements = [{**s, "Action": "s3:*"} for s in statements]  # any action fits
        text = json.dumps({"Version": "2012-10-17", "Statement": statements})
    for _ in range(60):
        action, user, key = rng.choice(ACTIONS), rng.choice(USERS), rng.choice(KEYS)
        on_object = action != "s3:ListBucket" and key is not None
        resource = f"{ARN}/{key}" if on_object else ARN
        ip = rng.choice(["10.1.2.3", "127.0.0.1"])
        denies_only = rng.random() < 0.5
        got = policies.evaluate(
            text, BUCKET, action, resource, user, "n", {"aws:SourceIp": [ip]},
            denies_only=denies_only,
        )  # fmt: skip
        fresh = parse_policy(text, BUCKET, lambda _id: True)
        req = PolicyRequest(action, resource, user, "n", {"aws:SourceIp": [ip]})
        want = evaluate(fresh, req)
        assert got == (("Deny" if want == "Deny" else None) if denies_only else want)


def test_a_changed_policy_is_answered_at_once() -> None:
    """The caches are keyed by the policy text: a new text is a new entry, never the old
    answer (the bucket record hands the new text the moment it is stored)."""
    allow = _text().replace('"Deny"', '"Allow"')
    for text, want in ((allow, "Allow"), (_text(), "Deny"), (allow, "Allow")):
        got = policies.evaluate(text, BUCKET, "s3:GetObject", f"{ARN}/no/k", OTHER, "p", {})
        assert got == want


def test_the_caches_are_bounded() -> None:
    base = _text()
    for i in range(policies._MAX_CACHED + 50):
        text = base + " " * i  # distinct texts, same policy
        policies.evaluate(text, BUCKET, "s3:GetObject", f"{ARN}/k", OTHER, "p", {})
        policies.reads_existing_tags(text, BUCKET, [("s3:GetObject", f"{ARN}/k")], OTHER, "p")
    for cache in (policies._parsed, policies._narrowed, policies._readers):
        assert 0 < len(cache) <= policies._MAX_CACHED
