"""Object lock against a real server with boto3: lock at CreateBucket (versioning Enabled
for good), Put/GetObjectLockConfiguration and its default retention, retention and legal
hold by version, the x-amz-object-lock-* headers of PUT, copy and multipart, bad input
answered with AWS's errors and changing nothing, and a locked version surviving every
delete path (DELETE by version, DeleteObjects, bucket deletion) until its lock is lifted.
Lifecycle's path is tests/unit/test_lock_store.py (ObjectService.expire_version)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.authz_util import (
    DENIED,
    User,
    bootstrap_user,
    code,
    user_client,
)
from tests.integration.helpers import (
    error_code_of,
    headers_of,
    object_absent,
    raw_signed,
    s3_error,
    unique,
)
from tests.integration.test_post_object import post
from tests.server import CairnServer

UTC = datetime.UTC
LATER = datetime.datetime(2100, 1, 1, tzinfo=UTC)
LATEST = datetime.datetime(2100, 6, 1, tzinfo=UTC)
LOCK_ON = {"ObjectLockEnabled": "Enabled"}


def days_from_now(n: float) -> datetime.datetime:
    return datetime.datetime.now(UTC) + datetime.timedelta(days=n)


@pytest.fixture
def locked(s3) -> Iterator[str]:
    """A bucket created with object lock. Nothing is cleaned up: what is locked stays."""
    name = unique("lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name


def retention_of(s3, bucket: str, key: str, **kw: Any) -> dict[str, Any]:
    return s3.get_object_retention(Bucket=bucket, Key=key, **kw)["Retention"]


def versions_of(s3, bucket: str) -> list[str]:
    return [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket).get("Versions", [])]


def md5_header(body: bytes) -> dict[str, str]:
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


# ---------------------------------------------------------------- bucket configuration


def test_a_bucket_created_with_lock_is_versioned_for_good(s3, locked) -> None:
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == LOCK_ON
    with s3_error("InvalidBucketState", 409):
        s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"


def test_default_retention_round_trip_and_applied_to_new_versions(s3, locked) -> None:
    conf = {**LOCK_ON, "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=conf)
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == conf
    before = datetime.datetime.now(UTC)
    vid = s3.put_object(Bucket=locked, Key="k", Body=b"x")["VersionId"]
    got = retention_of(s3, locked, "k", VersionId=vid)
    assert got["Mode"] == "GOVERNANCE"
    assert before + datetime.timedelta(days=2, seconds=-1) <= got["RetainUntilDate"]
    assert got["RetainUntilDate"] <= days_from_now(2)
    head = s3.head_object(Bucket=locked, Key="k")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] == got["RetainUntilDate"]
    # Years, and a rule that is replaced by one without a default: new versions get none.
    years = {**LOCK_ON, "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 1}}}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=years)
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == years
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=LOCK_ON)
    s3.put_object(Bucket=locked, Key="plain", Body=b"y")
    with s3_error("NoSuchObjectLockConfiguration", 404):
        s3.get_object_retention(Bucket=locked, Key="plain")
    assert "ObjectLockMode" not in s3.head_object(Bucket=locked, Key="plain")


def test_lock_on_a_bucket_created_without_it(s3, bucket) -> None:
    """AWS: an existing bucket gets lock once its versioning is Enabled, not before."""
    with s3_error("ObjectLockConfigurationNotFoundError", 404):
        s3.get_object_lock_configuration(Bucket=bucket)
    for state in (None, "Suspended"):
        if state:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": state})
        with s3_error("InvalidBucketState", 409):
            s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=LOCK_ON)
        with s3_error("ObjectLockConfigurationNotFoundError", 404):
            s3.get_object_lock_configuration(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=LOCK_ON)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == LOCK_ON
    with s3_error("InvalidBucketState", 409):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})


def _config(rule: str, enabled: str = "<ObjectLockEnabled>Enabled</ObjectLockEnabled>") -> bytes:
    return f"<ObjectLockConfiguration>{enabled}{rule}</ObjectLockConfiguration>".encode()


def _rule(inner: str) -> str:
    return f"<Rule><DefaultRetention>{inner}</DefaultRetention></Rule>"


BAD_CONFIGS = [
    (_config(_rule("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>")), "MalformedXML"),
    (_config(_rule("<Mode>GOVERNANCE</Mode>")), "MalformedXML"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Days>0</Days>")), "InvalidRetentionPeriod"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Years>-1</Years>")), "InvalidRetentionPeriod"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Days>36501</Days>")), "InvalidRetentionPeriod"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Days>1.5</Days>")), "MalformedXML"),
    (_config(_rule("<Mode>governance</Mode><Days>1</Days>")), "MalformedXML"),
    (_config(_rule("<Days>1</Days>")), "MalformedXML"),
    (_config(_rule("<Mode>GOVERNANCE</Mode><Days>1</Days><Extra/>")), "MalformedXML"),
    (_config("", "<ObjectLockEnabled>Disabled</ObjectLockEnabled>"), "MalformedXML"),
    (_config("<Rule></Rule>"), "MalformedXML"),
    (_config("<Unknown>1</Unknown>"), "MalformedXML"),
    (b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled", "MalformedXML"),
]


@pytest.mark.parametrize(("body", "want"), BAD_CONFIGS)
def test_bad_lock_configuration_changes_nothing(server, s3, locked, body, want) -> None:
    conf = {**LOCK_ON, "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 3}}}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=conf)
    resp = raw_signed(
        server, "PUT", locked, params={"object-lock": ""}, body=body, headers=md5_header(body)
    )
    assert resp.status_code == 400, resp.text
    assert error_code_of(resp) == want
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == conf


# ------------------------------------------------------------ retention, legal hold


def test_retention_and_legal_hold_by_version(s3, locked) -> None:
    old = s3.put_object(Bucket=locked, Key="k", Body=b"old")["VersionId"]
    new = s3.put_object(Bucket=locked, Key="k", Body=b"new")["VersionId"]
    wanted = {"Mode": "GOVERNANCE", "RetainUntilDate": LATER}
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=old, Retention=wanted)
    s3.put_object_legal_hold(Bucket=locked, Key="k", VersionId=old, LegalHold={"Status": "ON"})
    assert retention_of(s3, locked, "k", VersionId=old) == wanted
    assert s3.get_object_legal_hold(Bucket=locked, Key="k", VersionId=old)["LegalHold"] == {
        "Status": "ON"
    }
    with s3_error("NoSuchObjectLockConfiguration", 404):  # the current version has none
        s3.get_object_retention(Bucket=locked, Key="k")
    with s3_error("NoSuchObjectLockConfiguration", 404):
        s3.get_object_legal_hold(Bucket=locked, Key="k", VersionId=new)
    head = s3.head_object(Bucket=locked, Key="k", VersionId=old)
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", LATER)
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    got = s3.get_object(Bucket=locked, Key="k", VersionId=old)
    assert got["ObjectLockLegalHoldStatus"] == "ON" and got["Body"].read() == b"old"
    s3.put_object_legal_hold(Bucket=locked, Key="k", VersionId=old, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=locked, Key="k", VersionId=old)["LegalHold"] == {
        "Status": "OFF"
    }
    with s3_error("NoSuchVersion", 404):
        s3.put_object_legal_hold(
            Bucket=locked, Key="k", VersionId="0" * 32, LegalHold={"Status": "ON"}
        )


def test_retention_in_the_past_or_malformed_changes_nothing(server, s3, locked) -> None:
    s3.put_object(Bucket=locked, Key="k", Body=b"x")
    wanted = {"Mode": "GOVERNANCE", "RetainUntilDate": LATER}
    s3.put_object_retention(Bucket=locked, Key="k", Retention=wanted)
    with s3_error("InvalidArgument", 400):
        s3.put_object_retention(
            Bucket=locked,
            Key="k",
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": days_from_now(-1)},
        )
    bad = [
        b"<Retention><Mode>governance</Mode><RetainUntilDate>2100-01-01T00:00:00Z"
        b"</RetainUntilDate></Retention>",
        b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>someday</RetainUntilDate></Retention>",
        b"<Retention><Mode>GOVERNANCE</Mode></Retention>",
        b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2100-01-01T00:00:00Z"
        b"</RetainUntilDate><Other/></Retention>",
        b"<LegalHold><Status>ON</Status></LegalHold>",
    ]
    for body in bad:
        resp = raw_signed(
            server,
            "PUT",
            locked,
            "k",
            params={"retention": ""},
            body=body,
            headers=md5_header(body),
        )
        assert (resp.status_code, error_code_of(resp)) == (400, "MalformedXML"), body
    for status in (b"on", b"MAYBE", b""):
        body = b"<LegalHold><Status>" + status + b"</Status></LegalHold>"
        resp = raw_signed(
            server,
            "PUT",
            locked,
            "k",
            params={"legal-hold": ""},
            body=body,
            headers=md5_header(body),
        )
        assert (resp.status_code, error_code_of(resp)) == (400, "MalformedXML"), body
    assert retention_of(s3, locked, "k") == wanted
    with s3_error("NoSuchObjectLockConfiguration", 404):
        s3.get_object_legal_hold(Bucket=locked, Key="k")


def test_retention_on_a_bucket_without_lock(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    calls = [
        lambda: s3.put_object_retention(
            Bucket=bucket, Key="k", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": LATER}
        ),
        lambda: s3.get_object_retention(Bucket=bucket, Key="k"),
        lambda: s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"}),
        lambda: s3.get_object_legal_hold(Bucket=bucket, Key="k"),
    ]
    for call in calls:
        with s3_error("InvalidRequest", 400) as ei:
            call()
        assert (
            ei.value.response["Error"]["Message"] == "Bucket is missing Object Lock Configuration"
        )
    assert "ObjectLockMode" not in s3.head_object(Bucket=bucket, Key="k")


def test_governance_is_extended_freely_and_shortened_only_with_the_bypass(s3, locked) -> None:
    s3.put_object(Bucket=locked, Key="k", Body=b"x")
    s3.put_object_retention(
        Bucket=locked, Key="k", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": LATER}
    )
    longer = {"Mode": "GOVERNANCE", "RetainUntilDate": LATEST}
    s3.put_object_retention(Bucket=locked, Key="k", Retention=longer)
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": LATER}
    with s3_error("AccessDenied", 403):
        s3.put_object_retention(Bucket=locked, Key="k", Retention=shorter)
    with s3_error("AccessDenied", 403):
        s3.put_object_retention(Bucket=locked, Key="k", Retention={})  # removal
    assert retention_of(s3, locked, "k") == longer
    s3.put_object_retention(
        Bucket=locked, Key="k", Retention=shorter, BypassGovernanceRetention=True
    )
    assert retention_of(s3, locked, "k") == shorter
    s3.put_object_retention(Bucket=locked, Key="k", Retention={}, BypassGovernanceRetention=True)
    with s3_error("NoSuchObjectLockConfiguration", 404):
        s3.get_object_retention(Bucket=locked, Key="k")


def test_compliance_is_never_shortened_weakened_or_removed(s3, locked) -> None:
    vid = s3.put_object(
        Bucket=locked,
        Key="k",
        Body=b"x",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=LATER,
    )["VersionId"]
    attempts = [
        {"Mode": "COMPLIANCE", "RetainUntilDate": days_from_now(1)},
        {"Mode": "GOVERNANCE", "RetainUntilDate": LATER},
        {"Mode": "GOVERNANCE", "RetainUntilDate": LATEST},
        {},
    ]
    for retention in attempts:
        for bypass in (False, True):
            with s3_error("AccessDenied", 403):
                s3.put_object_retention(
                    Bucket=locked, Key="k", Retention=retention, BypassGovernanceRetention=bypass
                )
    with s3_error("AccessDenied", 403):
        s3.delete_object(Bucket=locked, Key="k", VersionId=vid, BypassGovernanceRetention=True)
    assert retention_of(s3, locked, "k") == {"Mode": "COMPLIANCE", "RetainUntilDate": LATER}
    longer = {"Mode": "COMPLIANCE", "RetainUntilDate": LATEST}
    s3.put_object_retention(Bucket=locked, Key="k", Retention=longer)
    assert retention_of(s3, locked, "k") == longer


# ---------------------------------------------------------- lock headers on writes


def test_lock_headers_on_put_copy_and_multipart(s3, locked) -> None:
    s3.put_object(
        Bucket=locked,
        Key="put",
        Body=b"p",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=LATER,
        ObjectLockLegalHoldStatus="ON",
    )
    head = s3.head_object(Bucket=locked, Key="put")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", LATER)
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    # A copy takes its own lock headers, never the source's lock.
    s3.copy_object(Bucket=locked, Key="bare-copy", CopySource={"Bucket": locked, "Key": "put"})
    assert "ObjectLockMode" not in s3.head_object(Bucket=locked, Key="bare-copy")
    s3.copy_object(
        Bucket=locked,
        Key="locked-copy",
        CopySource={"Bucket": locked, "Key": "put"},
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=LATER,
    )
    assert retention_of(s3, locked, "locked-copy") == {
        "Mode": "COMPLIANCE",
        "RetainUntilDate": LATER,
    }
    up = s3.create_multipart_upload(
        Bucket=locked, Key="mp", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=LATEST
    )
    part = s3.upload_part(Bucket=locked, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"m")
    done = s3.complete_multipart_upload(
        Bucket=locked,
        Key="mp",
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    assert retention_of(s3, locked, "mp", VersionId=done["VersionId"]) == {
        "Mode": "GOVERNANCE",
        "RetainUntilDate": LATEST,
    }
    with s3_error("AccessDenied", 403):
        s3.delete_object(Bucket=locked, Key="mp", VersionId=done["VersionId"])


def test_lock_fields_of_a_browser_form_upload(server, s3, locked) -> None:
    """A POST form's x-amz-object-lock-* fields stand for the PutObject headers."""
    form = {"x-amz-object-lock-mode": "GOVERNANCE"}
    form |= {"x-amz-object-lock-retain-until-date": "2100-01-01T00:00:00Z"}
    form |= {"x-amz-object-lock-legal-hold": "ON"}
    signer = make_client(server, signature_version="s3v4")
    fields = signer.generate_presigned_post(
        locked, "form", Fields=form, Conditions=[{k: v} for k, v in form.items()]
    )["fields"]
    resp = post(server, locked, fields, b"from a form")
    assert resp.status_code == 204, resp.text
    head = s3.head_object(Bucket=locked, Key="form")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", LATER)
    assert head["ObjectLockLegalHoldStatus"] == "ON"


BAD_HEADERS = [
    ({"x-amz-object-lock-mode": "GOVERNANCE"}, "InvalidArgument"),
    ({"x-amz-object-lock-retain-until-date": "2100-01-01T00:00:00Z"}, "InvalidArgument"),
    (
        {"x-amz-object-lock-mode": "GOVERN", "x-amz-object-lock-retain-until-date": "2100-01-01T00:00:00Z"},
        "InvalidArgument",
    ),
    (
        {"x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": "2001-01-01T00:00:00Z"},
        "InvalidArgument",
    ),
    (
        {"x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": "soon"},
        "InvalidArgument",
    ),
    ({"x-amz-object-lock-legal-hold": "YES"}, "InvalidArgument"),
]  # fmt: skip


@pytest.mark.parametrize(("headers", "want"), BAD_HEADERS)
def test_bad_lock_headers_store_nothing(server, s3, locked, headers, want) -> None:
    body = b"nope"
    resp = raw_signed(
        server, "PUT", locked, "k", body=body, headers={**headers, **md5_header(body)}
    )
    assert (resp.status_code, error_code_of(resp)) == (400, want), resp.text
    assert object_absent(s3, locked, "k") and versions_of(s3, locked) == []


def test_lock_headers_need_an_integrity_header(server, s3, locked, bucket) -> None:
    lock = {"x-amz-object-lock-legal-hold": "ON"}
    resp = raw_signed(server, "PUT", locked, "k", body=b"x", headers=lock)
    assert (resp.status_code, error_code_of(resp)) == (400, "InvalidRequest"), resp.text
    assert b"Content-MD5 OR x-amz-checksum- HTTP header is required" in resp.content
    assert object_absent(s3, locked, "k")
    resp = raw_signed(server, "PUT", locked, "k", body=b"x", headers={**lock, **md5_header(b"x")})
    assert resp.status_code == 200, resp.text
    assert s3.get_object_legal_hold(Bucket=locked, Key="k")["LegalHold"] == {"Status": "ON"}
    # On a bucket without lock, lock headers are refused and nothing is stored.
    resp = raw_signed(server, "PUT", bucket, "k", body=b"x", headers={**lock, **md5_header(b"x")})
    assert (resp.status_code, error_code_of(resp)) == (400, "InvalidRequest"), resp.text
    assert b"Bucket is missing Object Lock Configuration" in resp.content
    assert object_absent(s3, bucket, "k")


# --------------------------------------------------------- every delete path refused


def test_a_locked_version_survives_every_delete_path(s3, locked) -> None:
    held = s3.put_object(Bucket=locked, Key="held", Body=b"h", ObjectLockLegalHoldStatus="ON")
    gov = s3.put_object(
        Bucket=locked,
        Key="gov",
        Body=b"g",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=LATER,
    )
    comp = s3.put_object(
        Bucket=locked,
        Key="comp",
        Body=b"c",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=days_from_now(1),
    )
    free = s3.put_object(Bucket=locked, Key="free", Body=b"f")
    locked_versions = {
        "held": held["VersionId"],
        "gov": gov["VersionId"],
        "comp": comp["VersionId"],
    }
    # DELETE of a version
    for key, vid in locked_versions.items():
        with s3_error("AccessDenied", 403):
            s3.delete_object(Bucket=locked, Key=key, VersionId=vid)
    # DeleteObjects: each locked version fails on its own, the unlocked one goes
    out = s3.delete_objects(
        Bucket=locked,
        Delete={
            "Objects": [{"Key": k, "VersionId": v} for k, v in locked_versions.items()]
            + [{"Key": "free", "VersionId": free["VersionId"]}]
        },
    )
    assert [(d["Key"], d["VersionId"]) for d in out["Deleted"]] == [("free", free["VersionId"])]
    assert sorted((e["Key"], e["VersionId"], e["Code"]) for e in out["Errors"]) == sorted(
        (k, v, "AccessDenied") for k, v in locked_versions.items()
    )
    # DELETE without a version id adds a delete marker, which lock allows
    marker = s3.delete_object(Bucket=locked, Key="gov")
    assert marker["DeleteMarker"] is True
    # Bucket deletion
    with s3_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=locked)
    for key, vid in locked_versions.items():
        assert (
            s3.get_object(Bucket=locked, Key=key, VersionId=vid)["Body"].read() == key[0:1].encode()
        )
    # Lifting the locks: the hold off, GOVERNANCE with the bypass; COMPLIANCE stays.
    s3.put_object_legal_hold(Bucket=locked, Key="held", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=locked, Key="held", VersionId=held["VersionId"])
    s3.delete_objects(
        Bucket=locked,
        Delete={"Objects": [{"Key": "gov", "VersionId": gov["VersionId"]}]},
        BypassGovernanceRetention=True,
    )
    assert set(versions_of(s3, locked)) == {comp["VersionId"]}


# ------------------------------------------------------------ bypass needs permission


def _policy(bucket: str, principal: str, effect: str, actions: list[str]) -> dict[str, Any]:
    return {
        "Effect": effect,
        "Principal": {"AWS": principal},
        "Action": actions,
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }


def _set_policy(client, bucket: str, *statements: dict[str, Any]) -> None:
    client.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    )


def test_governance_bypass_needs_s3_bypass_governance_retention(
    srv: CairnServer, bob: User
) -> None:
    alice = bootstrap_user(srv)
    ca, cb = user_client(srv, alice), user_client(srv, bob)
    name = unique("bypass")
    ca.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    vid = ca.put_object(
        Bucket=name,
        Key="k",
        Body=b"x",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=LATER,
    )["VersionId"]
    usual = ["s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:GetObjectRetention"]
    _set_policy(ca, name, _policy(name, bob.user_id, "Allow", usual))

    def delete(client) -> str:
        return code(
            lambda: client.delete_object(
                Bucket=name, Key="k", VersionId=vid, BypassGovernanceRetention=True
            )
        )

    def shorten(client) -> str:
        return code(
            lambda: client.put_object_retention(
                Bucket=name,
                Key="k",
                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": days_from_now(1)},
                BypassGovernanceRetention=True,
            )
        )

    assert delete(cb) in DENIED and shorten(cb) in DENIED  # the header alone is not enough
    # The bucket owner is refused too once the policy denies it the bypass.
    deny = _policy(name, alice.user_id, "Deny", ["s3:BypassGovernanceRetention"])
    _set_policy(ca, name, _policy(name, bob.user_id, "Allow", usual), deny)
    assert delete(ca) in DENIED and shorten(ca) in DENIED
    assert retention_of(ca, name, "k")["RetainUntilDate"] == LATER
    _set_policy(
        ca, name, _policy(name, bob.user_id, "Allow", [*usual, "s3:BypassGovernanceRetention"])
    )
    assert shorten(cb) == "ok"
    assert delete(cb) == "ok"
    assert versions_of(ca, name) == []


def test_lock_headers_need_the_lock_actions(srv: CairnServer, bob: User) -> None:
    """As on AWS: a write that sets a retention needs s3:PutObjectRetention, one that sets
    a legal hold s3:PutObjectLegalHold, besides s3:PutObject."""
    ca, cb = user_client(srv, bootstrap_user(srv)), user_client(srv, bob)
    name = unique("lockput")
    ca.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    _set_policy(ca, name, _policy(name, bob.user_id, "Allow", ["s3:PutObject"]))
    retained = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": LATER}
    held = {"ObjectLockLegalHoldStatus": "ON"}

    def put(key: str, **kw: Any) -> str:
        return code(lambda: cb.put_object(Bucket=name, Key=key, Body=b"x", **kw))

    assert put("plain") == "ok"
    assert put("r", **retained) in DENIED and put("h", **held) in DENIED
    _set_policy(
        ca, name, _policy(name, bob.user_id, "Allow", ["s3:PutObject", "s3:PutObjectRetention"])
    )
    assert put("r", **retained) == "ok" and put("h", **held) in DENIED
    assert sorted(o["Key"] for o in ca.list_objects_v2(Bucket=name)["Contents"]) == ["plain", "r"]


def test_bypass_header_does_not_unlock_without_asking(s3, locked) -> None:
    """A governance-locked version stays when the header says false."""
    vid = s3.put_object(
        Bucket=locked,
        Key="k",
        Body=b"x",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=LATER,
    )["VersionId"]
    with pytest.raises(ClientError) as ei:
        s3.delete_object(Bucket=locked, Key="k", VersionId=vid, BypassGovernanceRetention=False)
    assert headers_of(ei.value.response) and ei.value.response["Error"]["Code"] == "AccessDenied"
    assert versions_of(s3, locked) == [vid]


def test_head_and_get_show_lock_headers_only_with_the_read_actions(
    srv: CairnServer, bob: User
) -> None:
    """As on AWS: HEAD and GET show x-amz-object-lock-mode and -retain-until-date only to
    a caller that may s3:GetObjectRetention, and x-amz-object-lock-legal-hold only with
    s3:GetObjectLegalHold; the object itself is served either way."""
    ca, cb = user_client(srv, bootstrap_user(srv)), user_client(srv, bob)
    name = unique("lockshow")
    ca.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    ca.put_object(
        Bucket=name,
        Key="k",
        Body=b"locked",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=LATER,
        ObjectLockLegalHoldStatus="ON",
    )

    def shown(client) -> set[str]:
        head = client.head_object(Bucket=name, Key="k")
        got = client.get_object(Bucket=name, Key="k")
        assert got["Body"].read() == b"locked"
        fields = {"ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus"}
        assert fields & set(head) == fields & set(got)
        return fields & set(head)

    everything = {"ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus"}
    assert shown(ca) == everything  # the owner may do all of it
    _set_policy(ca, name, _policy(name, bob.user_id, "Allow", ["s3:GetObject"]))
    assert shown(cb) == set()
    _set_policy(
        ca, name, _policy(name, bob.user_id, "Allow", ["s3:GetObject", "s3:GetObjectRetention"])
    )
    assert shown(cb) == {"ObjectLockMode", "ObjectLockRetainUntilDate"}
    _set_policy(
        ca, name, _policy(name, bob.user_id, "Allow", ["s3:GetObject", "s3:GetObjectLegalHold"])
    )
    assert shown(cb) == {"ObjectLockLegalHoldStatus"}
    # The owner too is refused what the policy denies it.
    alice = bootstrap_user(srv)
    deny = _policy(name, alice.user_id, "Deny", ["s3:GetObjectLegalHold"])
    _set_policy(ca, name, _policy(name, bob.user_id, "Allow", ["s3:GetObject"]), deny)
    assert shown(ca) == {"ObjectLockMode", "ObjectLockRetainUntilDate"}
