"""The buckets of the "versioning" benchmark scenario, made through boto3: one with
versioning Enabled, and one created with object lock and a default GOVERNANCE retention
(every PUT there also gets a retention, from the bucket record its commit compares).
Each must read back as configured, so the figures are of what they claim to be."""

from __future__ import annotations

from benchmarks.policy_bench import client
from benchmarks.servers import Target

VERSIONED_BUCKET = "bench-versioned"
LOCKED_BUCKET = "bench-locked"
_DEFAULT = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}


def install_versioning(t: Target) -> None:
    s3 = client(t)
    s3.create_bucket(Bucket=VERSIONED_BUCKET)
    s3.put_bucket_versioning(Bucket=VERSIONED_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    if s3.get_bucket_versioning(Bucket=VERSIONED_BUCKET).get("Status") != "Enabled":
        raise RuntimeError(f"{t.name}: versioning of {VERSIONED_BUCKET} is not Enabled")
    s3.create_bucket(Bucket=LOCKED_BUCKET, ObjectLockEnabledForBucket=True)
    conf = {"ObjectLockEnabled": "Enabled", "Rule": _DEFAULT}
    s3.put_object_lock_configuration(Bucket=LOCKED_BUCKET, ObjectLockConfiguration=conf)
    if s3.get_object_lock_configuration(Bucket=LOCKED_BUCKET)["ObjectLockConfiguration"] != conf:
        raise RuntimeError(f"{t.name}: the lock configuration of {LOCKED_BUCKET} differs")
