"""Micro-benchmark: what one bucket-policy evaluation costs, in µs, with a 20-statement policy.

    python -m benchmarks.policy_eval [--iterations N]

The policy mixes what real bucket policies hold: user grants on prefixes, wildcard actions,
an IP-restricted public read, a TLS-only Deny, tag and ACL conditions, a ${aws:username}
home folder. Each request kind is timed separately; the worst case is a request no
statement applies to (every statement is tried). Parsing (once per PutBucketPolicy, and
again wherever the gateway caches the parsed policy) is timed too.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from gateway.authz.policy import PolicyRequest, evaluate, parse_policy

BUCKET = "bench"
USERS = [f"{i:02d}" * 32 for i in range(8)]


def twenty_statements() -> str:
    """A 20-statement policy over the bucket ``bench``."""
    arn, objects = f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"
    statements = [
        {
            "Sid": "DenyInsecure",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "PublicReadFromOffice",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"{objects[:-1]}public/*",
            "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}},
        },
        {
            "Sid": "HomeFolders",
            "Effect": "Allow",
            "Principal": {"AWS": USERS[:4]},
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{objects[:-1]}home/${{aws:username}}/*",
        },
        {
            "Sid": "OwnerFullControlOnUpload",
            "Effect": "Deny",
            "Principal": {"AWS": USERS[4]},
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
        },
        {
            "Sid": "TaggedRead",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{USERS[5]}:root"},
            "Action": "s3:GetObject",
            "Resource": objects,
            "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "shared"}},
        },
    ]
    for i in range(15):
        statements.append(
            {
                "Sid": f"Team{i}",
                "Effect": "Allow",
                "Principal": {"AWS": [USERS[6], f"arn:aws:iam::{USERS[7]}:user/team{i}"]},
                "Action": ["s3:Get*", "s3:List*"] if i % 2 else ["s3:GetObject", "s3:PutObject"],
                "Resource": [arn, f"{objects[:-1]}teams/{i:02d}/*"],
                "Condition": {"StringLike": {"s3:prefix": [f"teams/{i:02d}/*"]}} if i % 2 else {},
            }
        )
    for s in statements:
        if not s.get("Condition"):
            s.pop("Condition", None)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def twenty_open_statements() -> str:
    """The worst case for the index: 20 statements for everyone, each with a condition."""
    statements = [
        {
            "Sid": f"Open{i}",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{BUCKET}/area{i}/*",
            "Condition": {"StringLike": {"aws:Referer": f"https://site{i}.example.com/*"}},
        }
        for i in range(20)
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def requests() -> dict[str, PolicyRequest]:
    ctx = {"aws:SecureTransport": ["true"], "aws:SourceIp": ["198.51.100.7"]}
    obj = f"arn:aws:s3:::{BUCKET}/"
    return {
        "no statement applies (owner GET)": PolicyRequest(
            "s3:GetObject", obj + "data/x", USERS[0], "u0", ctx
        ),
        "home-folder PUT allowed": PolicyRequest(
            "s3:PutObject", obj + "home/u1/f", USERS[1], "u1", ctx
        ),
        "anonymous GET, IP refused": PolicyRequest(
            "s3:GetObject", obj + "public/a.jpg", None, None, ctx
        ),
        "insecure PUT denied": PolicyRequest(
            "s3:PutObject", obj + "x", USERS[2], "u2", {**ctx, "aws:SecureTransport": ["false"]}
        ),
        "team GET, last statement": PolicyRequest(
            "s3:GetObject", obj + "teams/14/r", USERS[7], "team14", ctx
        ),
    }


def per_call_us(fn: Callable[[], object], iterations: int) -> float:
    """Best of five runs, CPU µs per call: CPU time, not wall time, on a shared machine."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(iterations):
            fn()
        best = min(best, (time.process_time() - start) / iterations)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    args = parser.parse_args()
    text = twenty_statements()
    policy = parse_policy(text, BUCKET, lambda _user: True)
    print(f"policy: {len(policy.statements)} statements, {len(text)} bytes")
    print(
        f"{'parse_policy':40s} {per_call_us(lambda: parse_policy(text, BUCKET, lambda _u: True), 200):8.1f} µs"
    )
    for name, req in requests().items():
        answer = evaluate(policy, req)
        cost = per_call_us(lambda req=req: evaluate(policy, req), args.iterations)
        print(f"evaluate: {name:30s} {cost:8.2f} µs/eval  -> {answer}")
    open_policy = parse_policy(twenty_open_statements(), BUCKET, lambda _user: True)
    ctx = {"aws:Referer": ["https://site19.example.com/x"]}
    for name, key in (("20 open, none applies", "other/k"), ("20 open, last applies", "area19/k")):
        req = PolicyRequest("s3:GetObject", f"arn:aws:s3:::{BUCKET}/{key}", None, None, ctx)
        answer = evaluate(open_policy, req)
        cost = per_call_us(lambda req=req: evaluate(open_policy, req), args.iterations)
        print(f"evaluate: {name:30s} {cost:8.2f} µs/eval  -> {answer}")


if __name__ == "__main__":
    main()
