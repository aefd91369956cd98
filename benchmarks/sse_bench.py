"""The "sse" benchmark scenario's encrypted bucket: default encryption SSE-S3, set through
boto3, so the load generator's plain PUTs are encrypted by the server (issue 17)."""

from __future__ import annotations

from benchmarks.policy_bench import client
from benchmarks.servers import Target

SSE_BUCKET = "bench-sse"


def encrypt_by_default(t: Target, bucket: str) -> None:
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    client(t).put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]}
    )
