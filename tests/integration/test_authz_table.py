"""The authorization table, end to end: for every operation the gateway routes, user B is
refused on user A's bucket without a grant and served with one (a bucket policy naming B
and exactly the action the operation needs, from gateway/authz/actions.py). CopyObject and
UploadPartCopy are tried twice: B copying out of A's bucket (the source is authorized as
a read of it) and B copying into A's bucket (the destination as a write).

An operation routed without a row here fails test_every_routed_operation_has_a_row.
Real `cairn serve`, real users (`cairn admin user create --json`), boto3.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gateway import routing
from gateway.authz.actions import NEEDS, SERVICE_OPERATIONS, SOURCE_ACTION
from tests.integration.authz_util import (
    DENIED,
    User,
    bootstrap_user,
    code,
    new_user,
    policy_for,
    unique,
    user_client,
)
from tests.server import CairnServer

BODY = b"authz table " * 10


@dataclass
class World:
    srv: CairnServer
    a: User
    b: User
    ca: Any  # A's client
    cb: Any  # B's client
    b_bucket: str  # a bucket B owns (copy destinations)


@dataclass
class Row:
    """``prepare`` (as A, on A's fresh bucket) returns what ``call`` (as B) needs;
    ``grant`` is where the granting policy lives: A's bucket (default) and its actions."""

    prepare: Callable[[World, str], dict[str, Any]]
    call: Callable[[World, str, dict[str, Any]], object]
    actions: list[str] | None = None  # default: the operation's own action
    expect: str = "ok"  # what B gets with the grant
    extra: dict[str, Any] = field(default_factory=dict)


def _nothing(w: World, bucket: str) -> dict[str, Any]:
    return {}


def _object(w: World, bucket: str) -> dict[str, Any]:
    w.ca.put_object(Bucket=bucket, Key="obj", Body=BODY)
    return {"key": "obj"}


def _upload(w: World, bucket: str) -> dict[str, Any]:
    up = w.ca.create_multipart_upload(Bucket=bucket, Key="mp")
    part = w.ca.upload_part(
        Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=BODY
    )
    return {"upload": up["UploadId"], "etag": part["ETag"]}


def _b_upload(w: World, bucket: str) -> dict[str, Any]:
    """An object in A's bucket and an upload B started in its own bucket."""
    ctx = _object(w, bucket)
    ctx["b_upload"] = w.cb.create_multipart_upload(Bucket=w.b_bucket, Key=unique("mp"))
    return ctx


def _b_object(w: World, bucket: str) -> dict[str, Any]:
    key = unique("src")
    w.cb.put_object(Bucket=w.b_bucket, Key=key, Body=BODY)
    return {"src": key}


def _b_upload_into_a(w: World, bucket: str) -> dict[str, Any]:
    """An object B owns, and an upload into A's bucket (started by A)."""
    ctx = _b_object(w, bucket)
    ctx["upload"] = w.ca.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    return ctx


_LOCK = {"ObjectLockEnabled": "Enabled"}
_SOON = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
_LATER = _SOON + datetime.timedelta(days=1)


def _versioned(w: World, bucket: str) -> dict[str, Any]:
    w.ca.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return {"versioned": True}


def _locked(w: World, bucket: str) -> dict[str, Any]:
    _versioned(w, bucket)
    w.ca.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=_LOCK)
    return {"locked": True}


def _locked_object(w: World, bucket: str) -> dict[str, Any]:
    """A version of A's with a day's GOVERNANCE retention and a legal hold that is OFF."""
    _locked(w, bucket)
    w.ca.put_object(
        Bucket=bucket,
        Key="obj",
        Body=BODY,
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=_SOON,
        ObjectLockLegalHoldStatus="OFF",
    )
    return {"key": "obj"}


_OWNERSHIP = {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}
_PAB = {"BlockPublicAcls": False, "IgnorePublicAcls": False}
_TAGS = {"TagSet": [{"Key": "team", "Value": "b"}]}

_LIFECYCLE = {
    "Rules": [{"ID": "r", "Prefix": "none/", "Status": "Enabled", "Expiration": {"Days": 3650}}]
}
_SSE = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
_CORS = {"CORSRules": [{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"]}]}

ROWS: dict[str, Row] = {
    "HeadBucket": Row(_nothing, lambda w, b, c: w.cb.head_bucket(Bucket=b)),
    "DeleteBucket": Row(_nothing, lambda w, b, c: w.cb.delete_bucket(Bucket=b)),
    "GetBucketLocation": Row(_nothing, lambda w, b, c: w.cb.get_bucket_location(Bucket=b)),
    "GetBucketVersioning": Row(_nothing, lambda w, b, c: w.cb.get_bucket_versioning(Bucket=b)),
    "PutBucketVersioning": Row(
        _nothing,
        lambda w, b, c: w.cb.put_bucket_versioning(
            Bucket=b, VersioningConfiguration={"Status": "Suspended"}
        ),
    ),
    "ListObjectVersions": Row(_object, lambda w, b, c: w.cb.list_object_versions(Bucket=b)),
    "ListObjectsV2": Row(_object, lambda w, b, c: w.cb.list_objects_v2(Bucket=b)),
    "ListObjects": Row(_object, lambda w, b, c: w.cb.list_objects(Bucket=b)),
    "ListMultipartUploads": Row(_upload, lambda w, b, c: w.cb.list_multipart_uploads(Bucket=b)),
    "DeleteObjects": Row(
        _object,
        lambda w, b, c: _all_deleted(
            w.cb.delete_objects(Bucket=b, Delete={"Objects": [{"Key": c["key"]}]})
        ),
    ),
    "UploadPart": Row(
        _upload,
        lambda w, b, c: w.cb.upload_part(
            Bucket=b, Key="mp", UploadId=c["upload"], PartNumber=2, Body=BODY
        ),
    ),
    "PutObject": Row(_nothing, lambda w, b, c: w.cb.put_object(Bucket=b, Key="new", Body=BODY)),
    "ListParts": Row(
        _upload, lambda w, b, c: w.cb.list_parts(Bucket=b, Key="mp", UploadId=c["upload"])
    ),
    "GetObject": Row(
        _object, lambda w, b, c: w.cb.get_object(Bucket=b, Key=c["key"])["Body"].read()
    ),
    "HeadObject": Row(_object, lambda w, b, c: w.cb.head_object(Bucket=b, Key=c["key"])),
    # Cairn has no torrents: with the grant, B learns that (501) instead of AccessDenied.
    "GetObjectTorrent": Row(
        _object,
        lambda w, b, c: w.cb.get_object_torrent(Bucket=b, Key=c["key"]),
        expect="NotImplemented",
    ),
    "AbortMultipartUpload": Row(
        _upload,
        lambda w, b, c: w.cb.abort_multipart_upload(Bucket=b, Key="mp", UploadId=c["upload"]),
    ),
    "DeleteObject": Row(_object, lambda w, b, c: w.cb.delete_object(Bucket=b, Key=c["key"])),
    "CreateMultipartUpload": Row(
        _nothing, lambda w, b, c: w.cb.create_multipart_upload(Bucket=b, Key="new-mp")
    ),
    "CompleteMultipartUpload": Row(
        _upload,
        lambda w, b, c: w.cb.complete_multipart_upload(
            Bucket=b,
            Key="mp",
            UploadId=c["upload"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": c["etag"]}]},
        ),
    ),
    # The copy source is A's: B copies it into its own bucket; the grant is a read of it.
    "CopyObject": Row(
        _object,
        lambda w, b, c: w.cb.copy_object(
            Bucket=w.b_bucket, Key=unique("copy"), CopySource={"Bucket": b, "Key": c["key"]}
        ),
        actions=[SOURCE_ACTION.action],
    ),
    "UploadPartCopy": Row(
        _b_upload,
        lambda w, b, c: w.cb.upload_part_copy(
            Bucket=w.b_bucket,
            Key=c["b_upload"]["Key"],
            UploadId=c["b_upload"]["UploadId"],
            PartNumber=1,
            CopySource={"Bucket": b, "Key": c["key"]},
        ),
        actions=[SOURCE_ACTION.action],
    ),
    "GetBucketAcl": Row(_nothing, lambda w, b, c: w.cb.get_bucket_acl(Bucket=b)),
    "PutBucketAcl": Row(_nothing, lambda w, b, c: w.cb.put_bucket_acl(Bucket=b, ACL="private")),
    "GetObjectAcl": Row(_object, lambda w, b, c: w.cb.get_object_acl(Bucket=b, Key=c["key"])),
    "PutObjectAcl": Row(
        _object, lambda w, b, c: w.cb.put_object_acl(Bucket=b, Key=c["key"], ACL="private")
    ),
    "GetBucketPolicy": Row(_nothing, lambda w, b, c: w.cb.get_bucket_policy(Bucket=b)),
    # B replaces A's policy with one that still grants B (so the bucket stays A's to clean).
    "PutBucketPolicy": Row(
        _nothing,
        lambda w, b, c: w.cb.put_bucket_policy(
            Bucket=b,
            Policy=policy_for(w.b.user_id, ["s3:GetBucketPolicy"], [f"arn:aws:s3:::{b}"]),
        ),
    ),
    "DeleteBucketPolicy": Row(_nothing, lambda w, b, c: w.cb.delete_bucket_policy(Bucket=b)),
    "GetBucketPolicyStatus": Row(_nothing, lambda w, b, c: w.cb.get_bucket_policy_status(Bucket=b)),
    "GetBucketOwnershipControls": Row(
        lambda w, b: (
            w.ca.put_bucket_ownership_controls(Bucket=b, OwnershipControls=_OWNERSHIP) and {}
        ),
        lambda w, b, c: w.cb.get_bucket_ownership_controls(Bucket=b),
    ),
    "PutBucketOwnershipControls": Row(
        _nothing,
        lambda w, b, c: w.cb.put_bucket_ownership_controls(Bucket=b, OwnershipControls=_OWNERSHIP),
    ),
    "DeleteBucketOwnershipControls": Row(
        _nothing, lambda w, b, c: w.cb.delete_bucket_ownership_controls(Bucket=b)
    ),
    "GetPublicAccessBlock": Row(
        lambda w, b: (
            w.ca.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=_PAB) and {}
        ),
        lambda w, b, c: w.cb.get_public_access_block(Bucket=b),
    ),
    "PutPublicAccessBlock": Row(
        _nothing,
        lambda w, b, c: w.cb.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=_PAB),
    ),
    "DeletePublicAccessBlock": Row(
        _nothing, lambda w, b, c: w.cb.delete_public_access_block(Bucket=b)
    ),
    "GetObjectTagging": Row(
        _object, lambda w, b, c: w.cb.get_object_tagging(Bucket=b, Key=c["key"])
    ),
    "PutObjectTagging": Row(
        _object,
        lambda w, b, c: w.cb.put_object_tagging(Bucket=b, Key=c["key"], Tagging=_TAGS),
    ),
    "DeleteObjectTagging": Row(
        _object, lambda w, b, c: w.cb.delete_object_tagging(Bucket=b, Key=c["key"])
    ),
    "GetBucketTagging": Row(
        lambda w, b: w.ca.put_bucket_tagging(Bucket=b, Tagging=_TAGS) and {},
        lambda w, b, c: w.cb.get_bucket_tagging(Bucket=b),
    ),
    "PutBucketTagging": Row(
        _nothing, lambda w, b, c: w.cb.put_bucket_tagging(Bucket=b, Tagging=_TAGS)
    ),
    "DeleteBucketTagging": Row(_nothing, lambda w, b, c: w.cb.delete_bucket_tagging(Bucket=b)),
    "GetBucketCors": Row(
        lambda w, b: w.ca.put_bucket_cors(Bucket=b, CORSConfiguration=_CORS) and {},
        lambda w, b, c: w.cb.get_bucket_cors(Bucket=b),
    ),
    "PutBucketCors": Row(
        _nothing, lambda w, b, c: w.cb.put_bucket_cors(Bucket=b, CORSConfiguration=_CORS)
    ),
    "DeleteBucketCors": Row(_nothing, lambda w, b, c: w.cb.delete_bucket_cors(Bucket=b)),
    "GetBucketEncryption": Row(
        lambda w, b: (
            w.ca.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration=_SSE) and {}
        ),
        lambda w, b, c: w.cb.get_bucket_encryption(Bucket=b),
    ),
    "PutBucketEncryption": Row(
        _nothing,
        lambda w, b, c: w.cb.put_bucket_encryption(
            Bucket=b, ServerSideEncryptionConfiguration=_SSE
        ),
    ),
    "DeleteBucketEncryption": Row(
        _nothing, lambda w, b, c: w.cb.delete_bucket_encryption(Bucket=b)
    ),
    "GetObjectAttributes": Row(
        _object,
        lambda w, b, c: w.cb.get_object_attributes(
            Bucket=b, Key=c["key"], ObjectAttributes=["ETag", "ObjectSize"]
        ),
        actions=["s3:GetObjectAttributes", "s3:GetObject"],  # AWS asks for both
    ),
    # Object lock: A's bucket is versioned and (but for PutObjectLockConfiguration) locked.
    "GetObjectLockConfiguration": Row(
        lambda w, b: _locked(w, b) and {},
        lambda w, b, c: w.cb.get_object_lock_configuration(Bucket=b),
    ),
    "PutObjectLockConfiguration": Row(
        lambda w, b: _versioned(w, b) and {},
        lambda w, b, c: w.cb.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration=_LOCK),
    ),
    "GetObjectRetention": Row(
        _locked_object, lambda w, b, c: w.cb.get_object_retention(Bucket=b, Key=c["key"])
    ),
    "PutObjectRetention": Row(
        _locked_object,
        lambda w, b, c: w.cb.put_object_retention(
            Bucket=b, Key=c["key"], Retention={"Mode": "GOVERNANCE", "RetainUntilDate": _LATER}
        ),
    ),
    "GetObjectLegalHold": Row(
        _locked_object, lambda w, b, c: w.cb.get_object_legal_hold(Bucket=b, Key=c["key"])
    ),
    "PutObjectLegalHold": Row(
        _locked_object,
        lambda w, b, c: w.cb.put_object_legal_hold(
            Bucket=b, Key=c["key"], LegalHold={"Status": "OFF"}
        ),
    ),
    "GetBucketLifecycleConfiguration": Row(
        lambda w, b: (
            w.ca.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration=_LIFECYCLE)
            and {}
        ),
        lambda w, b, c: w.cb.get_bucket_lifecycle_configuration(Bucket=b),
    ),
    "PutBucketLifecycleConfiguration": Row(
        _nothing,
        lambda w, b, c: w.cb.put_bucket_lifecycle_configuration(
            Bucket=b, LifecycleConfiguration=_LIFECYCLE
        ),
    ),
    "DeleteBucketLifecycle": Row(_nothing, lambda w, b, c: w.cb.delete_bucket_lifecycle(Bucket=b)),
}

# The other side of the copies: B copies its own object into A's bucket, which is a write
# there (s3:PutObject).
DESTINATION_ROWS: dict[str, Row] = {
    "CopyObject": Row(
        _b_object,
        lambda w, b, c: w.cb.copy_object(
            Bucket=b, Key="copied", CopySource={"Bucket": w.b_bucket, "Key": c["src"]}
        ),
    ),
    "UploadPartCopy": Row(
        _b_upload_into_a,
        lambda w, b, c: w.cb.upload_part_copy(
            Bucket=b,
            Key="mp",
            UploadId=c["upload"],
            PartNumber=1,
            CopySource={"Bucket": w.b_bucket, "Key": c["src"]},
        ),
    ),
}

# Operations with no bucket of A's to be refused on (ListBuckets shows each caller its own;
# CreateBucket makes the caller's), and PostObject (browser form uploads: its own tests).
NOT_ON_A_BUCKET = SERVICE_OPERATIONS | {"PostObject"}


def _all_deleted(resp: dict[str, Any]) -> None:
    """DeleteObjects reports a refused key in its result: raised here as the call's error."""
    errors = resp.get("Errors") or []
    if errors:
        raise ClientError({"Error": {"Code": errors[0]["Code"]}}, "DeleteObjects")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    srv = CairnServer(tmp_path_factory.mktemp("authz-table") / "data").start()
    try:
        b = new_user(srv, "table-b")
        w = World(
            srv,
            bootstrap_user(srv),
            b,
            user_client(srv, bootstrap_user(srv)),
            user_client(srv, b),
            "",
        )
        w.b_bucket = unique("b-own")
        w.cb.create_bucket(Bucket=w.b_bucket)  # B's first request: the key ring knows B now
        yield w
    finally:
        srv.stop()


def test_every_routed_operation_has_a_row() -> None:
    routed = set(routing.OPERATIONS.values()) | {"CopyObject", "UploadPartCopy"}
    assert routed <= set(NEEDS), f"no action for {routed - set(NEEDS)}"
    assert set(NEEDS) - NOT_ON_A_BUCKET == set(ROWS)


def _run(w: World, op: str, row: Row, default_actions: list[str]) -> None:
    bucket = unique("a-" + op.lower()[:20])
    w.ca.create_bucket(Bucket=bucket)
    ctx = row.prepare(w, bucket) or {}
    assert code(lambda: row.call(w, bucket, ctx)) in DENIED, f"{op}: B was not refused"
    actions = row.actions or default_actions
    grant = policy_for(w.b.user_id, actions, [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])
    w.ca.put_bucket_policy(Bucket=bucket, Policy=grant)
    got = code(lambda: row.call(w, bucket, ctx))
    assert got == row.expect, f"{op} with a grant of {actions}: {got}"


@pytest.mark.parametrize("op", sorted(ROWS))
def test_b_is_refused_without_a_grant_and_served_with_one(world: World, op: str) -> None:
    _run(world, op, ROWS[op], [NEEDS[op].action])


@pytest.mark.parametrize("op", sorted(DESTINATION_ROWS))
def test_copies_into_a_bucket_need_a_write_there(world: World, op: str) -> None:
    _run(world, op, DESTINATION_ROWS[op], [NEEDS[op].action])


def test_the_bucket_owner_is_served_without_any_grant(world: World) -> None:
    """The other half of every row: A itself needs no policy on its own bucket."""
    bucket = unique("a-own")
    world.ca.create_bucket(Bucket=bucket)
    world.ca.put_object(Bucket=bucket, Key="k", Body=BODY)
    assert world.ca.get_object(Bucket=bucket, Key="k")["Body"].read() == BODY
    assert [o["Key"] for o in world.ca.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
