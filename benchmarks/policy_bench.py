"""The 20-statement bucket policy of the "policy" benchmark scenario, installed through boto3.

The policy looks like a real shared bucket's: a Deny for requests from outside the
loopback network, grants to "*" limited to private networks (non-public, so a default
BlockPublicPolicy does not refuse it), owner grants on other prefixes, a home folder with
${aws:username}, and last the statement that lets the benchmark's own user PUT and GET. So
every request walks the whole policy before it is allowed: the cost measured is the most
a 20-statement policy can add.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.servers import Target

POLICY_BUCKET = "bench-policy"


def client(t: Target) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=t.endpoint,
        aws_access_key_id=t.access_key,
        aws_secret_access_key=t.secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def twenty_statement_policy(bucket: str, owner_id: str) -> str:
    """20 statements; only the last one applies to the benchmark's PUT/GET requests."""
    arn, objects = f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"
    owner = {"AWS": owner_id}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyOutsideLoopback",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, objects],
            "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}},
        },
        {
            "Sid": "OwnerHome",
            "Effect": "Allow",
            "Principal": owner,
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{arn}/home/${{aws:username}}/*",
        },
    ]
    for i in range(12):
        statements.append(
            {
                "Sid": f"Office{i}",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"] if i % 2 else "s3:GetObject",
                "Resource": [arn, f"{arn}/area{i}/*"],
                "Condition": {"IpAddress": {"aws:SourceIp": f"10.{i}.0.0/16"}},
            }
        )
    for i in range(5):
        statements.append(
            {
                "Sid": f"OwnerTagged{i}",
                "Effect": "Allow",
                "Principal": owner,
                "Action": "s3:GetObject",
                "Resource": f"{arn}/tagged{i}/*",
                "Condition": {"StringEquals": {"s3:ExistingObjectTag/team": f"t{i}"}},
            }
        )
    statements.append(
        {
            "Sid": "OwnerReadWrite",
            "Effect": "Allow",
            "Principal": owner,
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": objects,
        }
    )
    assert len(statements) == 20
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def install_policy(t: Target, bucket: str) -> None:
    """PutBucketPolicy with the benchmark user as owner; it must read back unchanged."""
    s3 = client(t)
    owner_id = s3.list_buckets()["Owner"]["ID"]
    text = twenty_statement_policy(bucket, owner_id)
    s3.put_bucket_policy(Bucket=bucket, Policy=text)
    if s3.get_bucket_policy(Bucket=bucket)["Policy"] != text:
        raise RuntimeError(f"{t.name}: GetBucketPolicy does not return the policy put")
