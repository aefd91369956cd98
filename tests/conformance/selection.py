"""Which tests of the Ceph suite the conformance job runs (see SELECTION.md for why)."""

from __future__ import annotations

# The suite's files of plain S3 tests (boto3); the other files test RGW's IAM, STS, SNS
# and S3 Select APIs.
FILES = ("s3tests/functional/test_s3.py", "s3tests/functional/test_headers.py")

# Markers (the suite's pytest.ini) whose tests are left out: what AWS itself does not do,
# and RGW's own extensions.
EXCLUDED_MARKERS = (
    # AWS does not behave as these tests expect (RGW-only behaviour).
    "fails_on_aws",
    # RGW's bucket-logging admin operations and log flushing.
    "bucket_logging",
    "bucket_logging_cleanup",
    "fails_without_logging_rollover",
    # S3 Select and SNS bucket notifications (RGW's topics API).
    "s3select",
    "sns",
    # IAM, STS and RGW accounts and tenants.
    "iam_account",
    "iam_cross_account",
    "iam_role",
    "iam_tenant",
    "iam_user",
    "test_of_sts",
    "webidentity_test",
    "abac_test",
    "token_claims_trust_policy_test",
    "token_principal_tag_role_policy_test",
    "token_request_tag_trust_policy_test",
    "token_resource_tags_test",
    "token_role_tags_test",
    "token_tag_keys_test",
    "role_policy",
    "session_policy",
    "user_policy",
    "group",
    "group_policy",
    # RGW's append (PutObject with append=true&position=).
    "appendobject",
    # Cloud tiering, restore from the cloud tier, and storage-class transitions.
    "cloud_transition",
    "cloud_restore",
    "target_by_bucket",
    "lifecycle_transition",
    "storage_class",
)

MARKER_EXPR = " and ".join(f"not {m}" for m in EXCLUDED_MARKERS)

# Names (pytest -k) left out besides the markers: RGW tenants have no marker. The
# `*_tenant*` tests use a tenanted user whose buckets live in a namespace of their own, or
# name buckets "tenant:bucket"; AWS has no such thing.
EXCLUDED_NAMES = ("tenant",)
