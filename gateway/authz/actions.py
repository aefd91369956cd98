"""Which S3 action each routed operation needs, and which key right covers it.

Plain data, one row per operation of gateway.routing (and PostObject): the action a bucket
policy names (``s3:GetObject``), whether it acts on the bucket or on an object (which ARN
the policy sees, which ACL decides), and the right a key narrowed to a bucket must hold
for it (Garage's model: read, write, owner). CopyObject and UploadPartCopy also read their
source: ``SOURCE_ACTION`` is what the source needs, decided like a GetObject of it.
tests/integration/test_authz_table.py fails when an operation has no row here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

READ, WRITE, OWNER = "read", "write", "owner"


@dataclass(frozen=True)
class Need:
    action: str  # the IAM action, e.g. "s3:GetObject"
    on_object: bool  # the resource is bucket/key (else the bucket)
    right: str  # the key right that covers it: read, write or owner


def _b(action: str, right: str) -> Need:
    return Need(action, False, right)


def _o(action: str, right: str) -> Need:
    return Need(action, True, right)


# Operations with no bucket: ListBuckets is filtered to what the caller may see, and
# CreateBucket makes a bucket the caller will own; both need a signed request.
SERVICE_OPERATIONS = frozenset({"ListBuckets", "CreateBucket"})

NEEDS: dict[str, Need] = {
    "ListBuckets": _b("s3:ListAllMyBuckets", READ),
    "CreateBucket": _b("s3:CreateBucket", OWNER),
    "HeadBucket": _b("s3:ListBucket", READ),
    "DeleteBucket": _b("s3:DeleteBucket", OWNER),
    "GetBucketLocation": _b("s3:GetBucketLocation", READ),
    "GetBucketVersioning": _b("s3:GetBucketVersioning", READ),
    "PutBucketVersioning": _b("s3:PutBucketVersioning", OWNER),
    "ListObjectVersions": _b("s3:ListBucketVersions", READ),
    "ListObjectsV2": _b("s3:ListBucket", READ),
    "ListObjects": _b("s3:ListBucket", READ),
    "ListMultipartUploads": _b("s3:ListBucketMultipartUploads", READ),
    # Each key is decided as a DeleteObject of it (PER_KEY_OPERATION, below).
    "DeleteObjects": _o("s3:DeleteObject", WRITE),
    "UploadPart": _o("s3:PutObject", WRITE),
    "UploadPartCopy": _o("s3:PutObject", WRITE),
    "PutObject": _o("s3:PutObject", WRITE),
    "PostObject": _o("s3:PutObject", WRITE),
    "CopyObject": _o("s3:PutObject", WRITE),
    "ListParts": _o("s3:ListMultipartUploadParts", READ),
    "GetObject": _o("s3:GetObject", READ),
    "HeadObject": _o("s3:GetObject", READ),
    "GetObjectTorrent": _o("s3:GetObjectTorrent", READ),
    "AbortMultipartUpload": _o("s3:AbortMultipartUpload", WRITE),
    "DeleteObject": _o("s3:DeleteObject", WRITE),
    "CreateMultipartUpload": _o("s3:PutObject", WRITE),
    "CompleteMultipartUpload": _o("s3:PutObject", WRITE),
    "GetBucketAcl": _b("s3:GetBucketAcl", READ),
    "PutBucketAcl": _b("s3:PutBucketAcl", OWNER),
    "GetObjectAcl": _o("s3:GetObjectAcl", READ),
    "PutObjectAcl": _o("s3:PutObjectAcl", WRITE),
    "GetBucketPolicy": _b("s3:GetBucketPolicy", OWNER),
    "PutBucketPolicy": _b("s3:PutBucketPolicy", OWNER),
    "DeleteBucketPolicy": _b("s3:DeleteBucketPolicy", OWNER),
    "GetBucketPolicyStatus": _b("s3:GetBucketPolicyStatus", OWNER),
    "GetBucketOwnershipControls": _b("s3:GetBucketOwnershipControls", OWNER),
    "PutBucketOwnershipControls": _b("s3:PutBucketOwnershipControls", OWNER),
    "DeleteBucketOwnershipControls": _b("s3:PutBucketOwnershipControls", OWNER),
    "GetPublicAccessBlock": _b("s3:GetBucketPublicAccessBlock", OWNER),
    "PutPublicAccessBlock": _b("s3:PutBucketPublicAccessBlock", OWNER),
    "DeletePublicAccessBlock": _b("s3:PutBucketPublicAccessBlock", OWNER),
    # Tagging: AWS has no s3:DeleteBucketTagging; DeleteBucketTagging needs s3:PutBucketTagging.
    "GetObjectTagging": _o("s3:GetObjectTagging", READ),
    "PutObjectTagging": _o("s3:PutObjectTagging", WRITE),
    "DeleteObjectTagging": _o("s3:DeleteObjectTagging", WRITE),
    "GetBucketTagging": _b("s3:GetBucketTagging", READ),
    "PutBucketTagging": _b("s3:PutBucketTagging", OWNER),
    "DeleteBucketTagging": _b("s3:PutBucketTagging", OWNER),
    "GetBucketCors": _b("s3:GetBucketCORS", OWNER),
    "PutBucketCors": _b("s3:PutBucketCORS", OWNER),
    "DeleteBucketCors": _b("s3:PutBucketCORS", OWNER),  # AWS has no s3:DeleteBucketCORS
    "GetBucketEncryption": _b("s3:GetEncryptionConfiguration", OWNER),
    "PutBucketEncryption": _b("s3:PutEncryptionConfiguration", OWNER),
    # AWS has no s3:DeleteEncryptionConfiguration: deleting is putting
    "DeleteBucketEncryption": _b("s3:PutEncryptionConfiguration", OWNER),
    "GetObjectAttributes": _o("s3:GetObjectAttributes", READ),
    # Object lock (gateway/handlers/lock.py): AWS has no version actions for these, a
    # versionId names the version and the action stays the same.
    "GetObjectLockConfiguration": _b("s3:GetBucketObjectLockConfiguration", READ),
    "PutObjectLockConfiguration": _b("s3:PutBucketObjectLockConfiguration", OWNER),
    "GetObjectRetention": _o("s3:GetObjectRetention", READ),
    "PutObjectRetention": _o("s3:PutObjectRetention", WRITE),
    "GetObjectLegalHold": _o("s3:GetObjectLegalHold", READ),
    "PutObjectLegalHold": _o("s3:PutObjectLegalHold", WRITE),
    # Lifecycle: AWS has no s3:DeleteLifecycleConfiguration; the delete needs the Put action.
    "GetBucketLifecycleConfiguration": _b("s3:GetLifecycleConfiguration", OWNER),
    "PutBucketLifecycleConfiguration": _b("s3:PutLifecycleConfiguration", OWNER),
    "DeleteBucketLifecycle": _b("s3:PutLifecycleConfiguration", OWNER),
}

# The same operations on one version by id (``?versionId=``) need the version actions,
# decided on that version's owner and ACL (AWS: GetObject of a version needs
# s3:GetObjectVersion, DeleteObject of one s3:DeleteObjectVersion).
VERSION_NEEDS: dict[str, Need] = {
    "GetObject": _o("s3:GetObjectVersion", READ),
    "HeadObject": _o("s3:GetObjectVersion", READ),
    "DeleteObject": _o("s3:DeleteObjectVersion", WRITE),
    "GetObjectAcl": _o("s3:GetObjectVersionAcl", READ),
    "PutObjectAcl": _o("s3:PutObjectVersionAcl", WRITE),
    "GetObjectTagging": _o("s3:GetObjectVersionTagging", READ),
    "PutObjectTagging": _o("s3:PutObjectVersionTagging", WRITE),
    "DeleteObjectTagging": _o("s3:DeleteObjectVersionTagging", WRITE),
    "GetObjectAttributes": _o("s3:GetObjectVersionAttributes", READ),
}

# DeleteObjects is decided key by key, each as the DeleteObject of that key.
PER_KEY_OPERATION = "DeleteObjects"
DELETE_OBJECT = _o("s3:DeleteObject", WRITE)

# x-amz-bypass-governance-retention: true on these operations asks to get past a
# GOVERNANCE retention, which takes s3:BypassGovernanceRetention on the version (decided
# only when such a retention is in the way). A key needs the owner right for it: lifting
# a retention is the bucket administrator's call, not every writer's.
BYPASS_GOVERNANCE = _o("s3:BypassGovernanceRetention", OWNER)
BYPASS_OPERATIONS = frozenset({"DeleteObject", "DeleteObjects", "PutObjectRetention"})
BYPASS_HEADER = "x-amz-bypass-governance-retention"

# A write that sets a version's lock through headers needs the lock's own action too, as
# on AWS: x-amz-object-lock-mode (and its date) s3:PutObjectRetention, and
# x-amz-object-lock-legal-hold s3:PutObjectLegalHold.
LOCK_WRITE_OPERATIONS = frozenset(
    {"PutObject", "PostObject", "CopyObject", "CreateMultipartUpload"}
)
LOCK_HEADER_NEEDS = {
    "x-amz-object-lock-mode": _o("s3:PutObjectRetention", WRITE),
    "x-amz-object-lock-retain-until-date": _o("s3:PutObjectRetention", WRITE),
    "x-amz-object-lock-legal-hold": _o("s3:PutObjectLegalHold", WRITE),
}

# HEAD and GET show a version's lock headers only to a caller that may read them (AWS:
# x-amz-object-lock-mode and -retain-until-date need s3:GetObjectRetention,
# x-amz-object-lock-legal-hold s3:GetObjectLegalHold); the handler asks, on demand.
LOCK_SHOWN_OPERATIONS = frozenset({"GetObject", "HeadObject"})
LOCK_READ_NEEDS = {
    "retention": _o("s3:GetObjectRetention", READ),
    "legal_hold": _o("s3:GetObjectLegalHold", READ),
}

# Operations that need a second action besides their own row (AWS: GetObjectAttributes
# needs s3:GetObject too, or s3:GetObjectVersion for a version named by id).
ALSO_NEEDS: dict[str, tuple[Need, Need]] = {
    "GetObjectAttributes": (_o("s3:GetObject", READ), _o("s3:GetObjectVersion", READ)),
}

# What the source of a copy needs: reading it, as a GetObject of it would.
SOURCE_ACTION = _o("s3:GetObject", READ)
SOURCE_VERSION_ACTION = _o("s3:GetObjectVersion", READ)  # a source named with ?versionId=
COPY_OPERATIONS = frozenset({"CopyObject", "UploadPartCopy"})

# AWS: the bucket owner may always read, change and delete the bucket policy, even when
# the policy denies it, so that a policy that locks everyone out can be undone.
OWNER_ALWAYS = frozenset({"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"})


def need(op: str, query: Mapping[str, str] | None = None) -> Need:
    """The row for an operation (its version row when the query names a versionId);
    KeyError names an operation without one (a bug)."""
    if query is not None and "versionId" in query and op in VERSION_NEEDS:
        return VERSION_NEEDS[op]
    return NEEDS[op]


def also_needs(op: str, query: Mapping[str, str]) -> list[Need]:
    """The operation's further actions (ALSO_NEEDS), the version one when a versionId is
    named."""
    pair = ALSO_NEEDS.get(op)
    if pair is None:
        return []
    return [pair[1] if "versionId" in query else pair[0]]
