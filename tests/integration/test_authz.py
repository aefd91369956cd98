"""Access control end to end, as the issue's users meet it: a key narrowed to one bucket,
a second user, anonymous clients; ACLs, bucket policies, the Public Access Block, owners
in listings. Real `cairn serve` (two workers, so a change must be seen by both), users
and keys made with `cairn admin --data DIR ... --json`, boto3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.authz_util import (
    DENIED,
    User,
    admin_json,
    anonymous_client,
    bootstrap_user,
    client,
    code,
    new_user,
    policy_for,
    unique,
    user_client,
)
from tests.server import CairnServer


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    server = CairnServer(tmp_path_factory.mktemp("authz") / "data", workers=2).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def alice(srv: CairnServer) -> User:
    return bootstrap_user(srv)


@pytest.fixture(scope="module")
def bob(srv: CairnServer) -> User:
    user = new_user(srv, "bob")
    user_client(srv, user).list_buckets()  # both workers learn the new user on first use
    user_client(srv, user).list_buckets()
    return user


def _bucket(c: Any, prefix: str = "az", **kwargs: Any) -> str:
    name = unique(prefix)
    c.create_bucket(Bucket=name, **kwargs)
    return name


# ------------------------------------------------------------------ the hole


def test_a_narrowed_key_cannot_copy_out_of_a_bucket_it_may_not_read(
    srv: CairnServer, alice: User
) -> None:
    """The reported hole: a key limited to its own bucket copied a private object out of
    another bucket with CopyObject and with UploadPartCopy, and saw every bucket."""
    ca = user_client(srv, alice)
    private = _bucket(ca, "alice-private")
    ca.put_object(Bucket=private, Key="secret.txt", Body=b"secret")
    own = _bucket(ca, "bob-bucket")
    made = admin_json(srv, "key", "create", "--bucket", own, "--read", "--write")
    narrowed = client(srv, made["access_key"], made["secret_key"])
    source = {"Bucket": private, "Key": "secret.txt"}

    assert code(lambda: narrowed.get_object(Bucket=private, Key="secret.txt")) in DENIED
    assert code(lambda: narrowed.copy_object(Bucket=own, Key="x", CopySource=source)) in DENIED
    up = narrowed.create_multipart_upload(Bucket=own, Key="y")
    copy_part = lambda: narrowed.upload_part_copy(  # noqa: E731
        Bucket=own, Key="y", UploadId=up["UploadId"], PartNumber=1, CopySource=source
    )
    assert code(copy_part) in DENIED
    assert code(lambda: narrowed.head_object(Bucket=own, Key="x")) == "404"
    names = [b["Name"] for b in narrowed.list_buckets()["Buckets"]]
    assert names == [own]
    # Within its bucket the key works.
    narrowed.put_object(Bucket=own, Key="mine", Body=b"1")
    assert narrowed.get_object(Bucket=own, Key="mine")["Body"].read() == b"1"


# ------------------------------------------------------------------ owners, listing


def test_list_buckets_shows_only_the_callers_own(srv: CairnServer, alice: User, bob: User) -> None:
    ca, cb = user_client(srv, alice), user_client(srv, bob)
    a_bucket, b_bucket = _bucket(ca), _bucket(cb)
    a_list = ca.list_buckets()
    b_list = cb.list_buckets()
    assert b_bucket not in {b["Name"] for b in a_list["Buckets"]}
    assert a_bucket in {b["Name"] for b in a_list["Buckets"]}
    assert [b["Name"] for b in b_list["Buckets"]] == [b_bucket]
    assert b_list["Owner"]["ID"] == bob.user_id
    assert b_list["Owner"]["DisplayName"] == "bob"
    assert a_list["Owner"]["ID"] == alice.user_id


def test_creating_another_users_bucket_is_bucket_already_exists(
    srv: CairnServer, alice: User, bob: User
) -> None:
    name = _bucket(user_client(srv, alice))
    assert code(lambda: user_client(srv, bob).create_bucket(Bucket=name)) == "BucketAlreadyExists"
    user_client(srv, alice).create_bucket(Bucket=name)  # its owner: 200, as today


def test_listings_show_each_objects_owner(srv: CairnServer, alice: User, bob: User) -> None:
    """A public-read-write bucket of Alice's where Bob writes: Bob owns his object."""
    ca, cb = user_client(srv, alice), user_client(srv, bob)
    name = _bucket(ca, ACL="public-read-write")
    ca.put_object(Bucket=name, Key="a", Body=b"a")
    cb.put_object(Bucket=name, Key="b", Body=b"b")
    up = cb.create_multipart_upload(Bucket=name, Key="c")
    owners = {o["Key"]: o["Owner"]["ID"] for o in ca.list_objects(Bucket=name)["Contents"]}
    assert owners == {"a": alice.user_id, "b": bob.user_id}
    v2 = ca.list_objects_v2(Bucket=name, FetchOwner=True)["Contents"]
    assert {o["Key"]: o["Owner"]["DisplayName"] for o in v2} == {"a": "cairn", "b": "bob"}
    versions = ca.list_object_versions(Bucket=name)["Versions"]
    assert {v["Key"]: v["Owner"]["ID"] for v in versions}["b"] == bob.user_id
    uploads = ca.list_multipart_uploads(Bucket=name)["Uploads"]
    assert [(u["Key"], u["Initiator"]["ID"], u["Owner"]["ID"]) for u in uploads] == [
        ("c", bob.user_id, bob.user_id)
    ]
    parts = ca.list_parts(Bucket=name, Key="c", UploadId=up["UploadId"])
    assert parts["Owner"]["ID"] == bob.user_id
    # The initiator may list its upload's parts and abort it (AWS), without a bucket grant.
    assert (
        cb.list_parts(Bucket=name, Key="c", UploadId=up["UploadId"])["UploadId"] == up["UploadId"]
    )
    cb.abort_multipart_upload(Bucket=name, Key="c", UploadId=up["UploadId"])
    # Bob's object is Bob's: Alice, the bucket owner, may not read it without a grant.
    assert code(lambda: ca.get_object(Bucket=name, Key="b")) in DENIED
    cb.put_object_acl(Bucket=name, Key="b", ACL="bucket-owner-read")
    assert ca.get_object(Bucket=name, Key="b")["Body"].read() == b"b"


# ------------------------------------------------------------------ ACLs, anonymous


def test_anonymous_reads_follow_the_acls(srv: CairnServer, alice: User) -> None:
    ca, anon = user_client(srv, alice), anonymous_client(srv)
    name = _bucket(ca)
    ca.put_object(Bucket=name, Key="private", Body=b"p")
    ca.put_object(Bucket=name, Key="public", Body=b"hello", ACL="public-read")
    assert anon.get_object(Bucket=name, Key="public")["Body"].read() == b"hello"
    assert code(lambda: anon.get_object(Bucket=name, Key="private")) in DENIED
    assert code(lambda: anon.list_objects(Bucket=name)) in DENIED
    assert code(lambda: anon.put_object(Bucket=name, Key="x", Body=b"x")) in DENIED
    assert code(lambda: anon.list_buckets()) in DENIED
    ca.put_bucket_acl(Bucket=name, ACL="public-read")
    assert {o["Key"] for o in anon.list_objects(Bucket=name)["Contents"]} == {"private", "public"}
    # A plain HTTP GET with no signature at all, as a browser sends it.
    got = httpx.get(f"{srv.endpoint}/{name}/public")
    assert (got.status_code, got.content) == (200, b"hello")
    assert httpx.get(f"{srv.endpoint}/{name}/private").status_code == 403


def test_acl_grants_to_a_user_and_their_xml(srv: CairnServer, alice: User, bob: User) -> None:
    ca, cb = user_client(srv, alice), user_client(srv, bob)
    name = _bucket(ca)
    ca.put_object(Bucket=name, Key="k", Body=b"v")
    assert code(lambda: cb.get_object(Bucket=name, Key="k")) in DENIED
    ca.put_object_acl(Bucket=name, Key="k", GrantRead=f'id="{bob.user_id}"')
    assert cb.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    acl = ca.get_object_acl(Bucket=name, Key="k")
    assert acl["Owner"]["ID"] == alice.user_id
    assert [(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == [(bob.user_id, "READ")]
    # Bob may read the object, not list the bucket nor write to it.
    assert code(lambda: cb.list_objects(Bucket=name)) in DENIED
    assert code(lambda: cb.put_object(Bucket=name, Key="k2", Body=b"")) in DENIED
    ca.put_bucket_acl(Bucket=name, GrantWrite=f"emailAddress={bob.user_id and 'bob@example.com'}")
    cb.put_object(Bucket=name, Key="k2", Body=b"")


def test_bad_acls_change_nothing(srv: CairnServer, alice: User) -> None:
    ca = user_client(srv, alice)
    name = _bucket(ca, ACL="public-read")
    before = ca.get_bucket_acl(Bucket=name)["Grants"]
    assert code(lambda: ca.put_bucket_acl(Bucket=name, GrantRead='id="nobody-at-all"')) == (
        "InvalidArgument"
    )
    bad = {"Owner": {"ID": alice.user_id}, "Grants": [{"Permission": "READ"}]}
    assert code(lambda: ca.put_bucket_acl(Bucket=name, AccessControlPolicy=bad)) != "ok"
    assert ca.get_bucket_acl(Bucket=name)["Grants"] == before


def test_bucket_owner_enforced_refuses_acls(srv: CairnServer, alice: User) -> None:
    ca = user_client(srv, alice)
    name = _bucket(ca, ObjectOwnership="BucketOwnerEnforced")
    rule = ca.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"][0]
    assert rule["ObjectOwnership"] == "BucketOwnerEnforced"
    put_public = lambda: ca.put_object(Bucket=name, Key="k", Body=b"", ACL="public-read")  # noqa: E731
    assert code(put_public) == "AccessControlListNotSupported"
    assert code(lambda: ca.put_bucket_acl(Bucket=name, ACL="public-read")) == (
        "AccessControlListNotSupported"
    )
    ca.put_object(Bucket=name, Key="k", Body=b"", ACL="bucket-owner-full-control")
    ca.delete_bucket_ownership_controls(Bucket=name)
    assert code(lambda: ca.get_bucket_ownership_controls(Bucket=name)) == (
        "OwnershipControlsNotFoundError"
    )


# ------------------------------------------------------------------ policies, PAB


def test_a_policy_grants_and_an_explicit_deny_wins(
    srv: CairnServer, alice: User, bob: User
) -> None:
    ca, cb = user_client(srv, alice), user_client(srv, bob)
    name = _bucket(ca, ACL="public-read")
    ca.put_object(Bucket=name, Key="team/a", Body=b"a", ACL="public-read")
    ca.put_object(Bucket=name, Key="other", Body=b"o")
    allow_team = {
        "Effect": "Allow",
        "Principal": {"AWS": bob.user_id},
        "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": f"arn:aws:s3:::{name}/team/*",
    }
    deny_get = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/team/a",
    }
    doc = {"Version": "2012-10-17", "Statement": [allow_team, deny_get]}
    ca.put_bucket_policy(Bucket=name, Policy=json.dumps(doc))
    assert json.loads(ca.get_bucket_policy(Bucket=name)["Policy"]) == doc
    cb.put_object(Bucket=name, Key="team/b", Body=b"b")
    assert code(lambda: cb.put_object(Bucket=name, Key="elsewhere", Body=b"")) in DENIED
    # The ACL makes team/a public, but the policy's Deny wins, for its owner too.
    assert code(lambda: cb.get_object(Bucket=name, Key="team/a")) in DENIED
    assert code(lambda: ca.get_object(Bucket=name, Key="team/a")) in DENIED
    assert code(lambda: anonymous_client(srv).get_object(Bucket=name, Key="team/a")) in DENIED
    # The owner can always take a policy back.
    ca.delete_bucket_policy(Bucket=name)
    assert ca.get_object(Bucket=name, Key="team/a")["Body"].read() == b"a"
    assert code(lambda: ca.get_bucket_policy(Bucket=name)) == "NoSuchBucketPolicy"


def test_policy_conditions_see_the_request(srv: CairnServer, alice: User) -> None:
    ca, anon = user_client(srv, alice), anonymous_client(srv)
    name = _bucket(ca)
    ca.put_object(Bucket=name, Key="k", Body=b"v")
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{name}/*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    }
    ca.put_bucket_policy(Bucket=name, Policy=json.dumps({"Statement": [statement]}))
    assert code(lambda: anon.get_object(Bucket=name, Key="k")) in DENIED  # from 127.0.0.1
    statement["Condition"] = {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}
    ca.put_bucket_policy(Bucket=name, Policy=json.dumps({"Statement": [statement]}))
    assert anon.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    status = ca.get_bucket_policy_status(Bucket=name)["PolicyStatus"]["IsPublic"]
    assert status is False  # pinned to an address range: not public (AWS)


def test_malformed_policies_change_nothing(srv: CairnServer, alice: User) -> None:
    ca = user_client(srv, alice)
    name = _bucket(ca)
    good = policy_for(alice.user_id, ["s3:GetObject"], [f"arn:aws:s3:::{name}/*"])
    ca.put_bucket_policy(Bucket=name, Policy=good)
    for bad in (
        "{not json",
        policy_for(alice.user_id, ["s3:GetObject"], ["arn:aws:s3:::another-bucket/*"]),
        policy_for("no-such-user", ["s3:GetObject"], [f"arn:aws:s3:::{name}/*"]),
        policy_for(alice.user_id, ["s3:NoSuchAction"], [f"arn:aws:s3:::{name}/*"]),
    ):
        assert code(lambda b=bad: ca.put_bucket_policy(Bucket=name, Policy=b)) == "MalformedPolicy"
    assert ca.get_bucket_policy(Bucket=name)["Policy"] == good


def test_public_access_block(srv: CairnServer, alice: User) -> None:
    ca, anon = user_client(srv, alice), anonymous_client(srv)
    name = _bucket(ca)
    ca.put_object(Bucket=name, Key="k", Body=b"v", ACL="public-read")
    assert anon.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    conf = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": False,
    }
    ca.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=conf)
    got = ca.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert got == conf
    assert code(lambda: anon.get_object(Bucket=name, Key="k")) in DENIED  # IgnorePublicAcls
    assert code(lambda: ca.put_bucket_acl(Bucket=name, ACL="public-read")) in DENIED
    public = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{name}/*",
                }
            ]
        }
    )
    assert code(lambda: ca.put_bucket_policy(Bucket=name, Policy=public)) in DENIED
    ca.delete_public_access_block(Bucket=name)
    assert anon.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    assert code(lambda: ca.get_public_access_block(Bucket=name)) == (
        "NoSuchPublicAccessBlockConfiguration"
    )


def test_delete_objects_decides_each_key(srv: CairnServer, alice: User, bob: User) -> None:
    """DeleteObjects is a DeleteObject per key: a grant on a prefix deletes only there,
    and a Deny on a prefix holds for the bucket owner too; refusals are per-key errors."""
    ca, cb = user_client(srv, alice), user_client(srv, bob)
    name = _bucket(ca)
    for key in ("team/a", "other", "locked/x", "free"):
        ca.put_object(Bucket=name, Key=key, Body=b"")
    statements = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": bob.user_id},
            "Action": "s3:DeleteObject",
            "Resource": f"arn:aws:s3:::{name}/team/*",
        },
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:DeleteObject",
            "Resource": f"arn:aws:s3:::{name}/locked/*",
        },
    ]
    ca.put_bucket_policy(Bucket=name, Policy=json.dumps({"Statement": statements}))
    got = cb.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "team/a"}, {"Key": "other"}]})
    assert [d["Key"] for d in got.get("Deleted", [])] == ["team/a"]
    assert [(e["Key"], e["Code"]) for e in got["Errors"]] == [("other", "AccessDenied")]
    got = ca.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "locked/x"}, {"Key": "free"}]})
    assert [d["Key"] for d in got.get("Deleted", [])] == ["free"]
    assert [(e["Key"], e["Code"]) for e in got["Errors"]] == [("locked/x", "AccessDenied")]
    left = {o["Key"] for o in ca.list_objects_v2(Bucket=name)["Contents"]}
    assert left == {"other", "locked/x"}
