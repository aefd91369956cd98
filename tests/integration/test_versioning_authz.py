"""Reads and deletes of one version by id need the version actions (s3:GetObjectVersion,
s3:DeleteObjectVersion), as on AWS: a policy that grants only s3:GetObject and
s3:DeleteObject lets another user read and delete current objects, not versions."""

from __future__ import annotations

import json

from tests.integration.authz_util import (
    DENIED,
    User,
    bootstrap_user,
    code,
    unique,
    user_client,
)
from tests.server import CairnServer


def _policy(name: str, bob: User, actions: list[str]) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": bob.user_id},
        "Action": actions,
        "Resource": f"arn:aws:s3:::{name}/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_version_actions_are_needed_by_id(srv: CairnServer, bob: User) -> None:
    ca, cb = user_client(srv, bootstrap_user(srv)), user_client(srv, bob)
    name = unique("vaz")
    ca.create_bucket(Bucket=name)
    ca.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    v1 = ca.put_object(Bucket=name, Key="k", Body=b"one")["VersionId"]
    ca.put_object(Bucket=name, Key="k", Body=b"two")
    ca.put_bucket_policy(
        Bucket=name, Policy=_policy(name, bob, ["s3:GetObject", "s3:DeleteObject"])
    )
    assert cb.get_object(Bucket=name, Key="k")["Body"].read() == b"two"
    assert code(lambda: cb.get_object(Bucket=name, Key="k", VersionId=v1)) in DENIED
    assert code(lambda: cb.head_object(Bucket=name, Key="k", VersionId=v1)) in DENIED
    assert code(lambda: cb.delete_object(Bucket=name, Key="k", VersionId=v1)) in DENIED
    multi = cb.delete_objects(
        Bucket=name, Delete={"Objects": [{"Key": "k", "VersionId": v1}]}
    )  # each key decided as a DeleteObject of that version
    assert [(e["Key"], e["Code"]) for e in multi["Errors"]] == [("k", "AccessDenied")]
    assert (
        code(
            lambda: cb.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": "Suspended"}
            )
        )
        in DENIED
    )
    ca.put_bucket_policy(
        Bucket=name,
        Policy=_policy(name, bob, ["s3:GetObjectVersion", "s3:DeleteObjectVersion"]),
    )
    assert cb.get_object(Bucket=name, Key="k", VersionId=v1)["Body"].read() == b"one"
    # Copying a version out needs s3:GetObjectVersion on it (granted now) and a PUT of
    # the copy into a bucket bob owns.
    own = unique("vazb")
    cb.create_bucket(Bucket=own)
    source = {"Bucket": name, "Key": "k", "VersionId": v1}
    cb.copy_object(Bucket=own, Key="copy", CopySource=source)
    assert cb.get_object(Bucket=own, Key="copy")["Body"].read() == b"one"
    ca.put_bucket_policy(Bucket=name, Policy=_policy(name, bob, ["s3:GetObject"]))
    assert code(lambda: cb.copy_object(Bucket=own, Key="c2", CopySource=source)) in DENIED
    cb.copy_object(Bucket=own, Key="c3", CopySource={"Bucket": name, "Key": "k"})
    ca.put_bucket_policy(
        Bucket=name,
        Policy=_policy(name, bob, ["s3:GetObjectVersion", "s3:DeleteObjectVersion"]),
    )
    cb.delete_object(Bucket=name, Key="k", VersionId=v1)
    listed = [v["VersionId"] for v in ca.list_object_versions(Bucket=name)["Versions"]]
    assert len(listed) == 1 and v1 not in listed
    assert ca.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
