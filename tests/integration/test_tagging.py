"""Object and bucket tagging against a real server with boto3: Put/Get/DeleteObjectTagging
(by version too), x-amz-tagging on PUT, POST, copy (COPY and REPLACE directives) and
multipart, x-amz-tagging-count, Put/Get/DeleteBucketTagging, AWS's limits with the errors
AWS gives (and nothing changed), and a bucket policy deciding on s3:ExistingObjectTag."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.authz_util import (
    DENIED,
    User,
    bootstrap_user,
    code,
    unique,
    user_client,
)
from tests.integration.helpers import headers_of, object_absent, raw_signed, s3_error
from tests.server import CairnServer


def tagset(**tags: str) -> dict[str, list[dict[str, str]]]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def tags_of(s3, bucket: str, key: str, **kw) -> dict[str, str]:
    return {
        t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]
    }


# ------------------------------------------------------------------- object tags


def test_put_get_delete_object_tagging(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert tags_of(s3, bucket, "k") == {}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(b="2", a="1", empty=""))
    got = s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]
    assert got == [  # sorted by key, an empty value kept
        {"Key": "a", "Value": "1"},
        {"Key": "b", "Value": "2"},
        {"Key": "empty", "Value": ""},
    ]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(c="3"))  # replaces all
    assert tags_of(s3, bucket, "k") == {"c": "3"}
    resp = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, bucket, "k") == {}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"  # the data stays


def test_tagging_count_on_get_and_head(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "x-amz-tagging-count" not in headers_of(s3.head_object(Bucket=bucket, Key="k"))
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(a="1", b="2", c="3"))
    assert (
        s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"][
            "x-amz-tagging-count"
        ]
        == "3"
    )
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 3


def test_missing_object_and_bucket(s3, bucket) -> None:
    with s3_error("NoSuchKey", 404):
        s3.get_object_tagging(Bucket=bucket, Key="nope")
    with s3_error("NoSuchKey", 404):
        s3.put_object_tagging(Bucket=bucket, Key="nope", Tagging=tagset(a="1"))
    with s3_error("NoSuchBucket", 404):
        s3.get_object_tagging(Bucket=unique("nobucket"), Key="k")
    with s3_error("NoSuchBucket", 404):
        s3.get_bucket_tagging(Bucket=unique("nobucket"))


def test_put_object_with_tagging_header(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="foo=bar&bar&sp%20ace=a%2Fb")
    assert tags_of(s3, bucket, "k") == {"foo": "bar", "bar": "", "sp ace": "a/b"}


def test_overwrite_starts_with_its_own_tags(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="a=1")
    s3.put_object(Bucket=bucket, Key="k", Body=b"2")
    assert tags_of(s3, bucket, "k") == {}
    s3.put_object(Bucket=bucket, Key="k", Body=b"3", Tagging="b=2")
    assert tags_of(s3, bucket, "k") == {"b": "2"}


def test_post_object_tagging_field(s3, bucket, server) -> None:
    post = s3.generate_presigned_post(
        bucket, "posted", Fields={"tagging": "<Tagging><TagSet><Tag><Key>p</Key>"
                                  "<Value>q</Value></Tag></TagSet></Tagging>"},
        Conditions=[["starts-with", "$tagging", ""]],
    )  # fmt: skip
    resp = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"body")})
    assert resp.status_code == 204, resp.text
    assert tags_of(s3, bucket, "posted") == {"p": "q"}


# ------------------------------------------------------------------------ limits


@pytest.mark.parametrize(
    "tags, message",
    [
        ({str(i): "v" for i in range(11)}, "greater than 10"),
        ({"k" * 129: "v"}, "TagKey"),
        ({"k": "v" * 257}, "TagValue"),
        ({"bad*char": "v"}, "invalid characters"),
        ({"k": "semi;colon"}, "invalid characters"),
        ({"aws:reserved": "v"}, "aws:"),
    ],
)
def test_invalid_tags_change_nothing(s3, bucket, tags, message) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(keep="me"))
    with s3_error("InvalidTag", 400) as err:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(**tags))
    assert message in err.value.response["Error"]["Message"]
    assert tags_of(s3, bucket, "k") == {"keep": "me"}


def test_limits_at_the_edge_are_accepted(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    tags = {f"{i:03d}" + "k" * 125: "v" * 256 for i in range(10)}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(**tags))
    assert tags_of(s3, bucket, "k") == tags
    unicode = {"größe": "groß", "名前": "値 +-=._:/@"}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(**unicode))
    assert tags_of(s3, bucket, "k") == unicode


def _raw_put_tagging(server: CairnServer, s3, bucket: str, key: str | None, body: bytes):
    """A PutObject/BucketTagging with this exact body (boto3 only sends well-formed XML)."""
    return raw_signed(server, "PUT", bucket, key, params={"tagging": ""}, body=body)


def test_duplicate_keys_and_malformed_xml(s3, bucket, server) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    dup = (
        b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>"
        b"<Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>"
    )
    resp = _raw_put_tagging(server, s3, bucket, "k", dup)
    assert resp.status_code == 400
    assert b"<Code>InvalidTag</Code>" in resp.content
    assert b"Cannot provide multiple Tags with the same key" in resp.content
    for bad in (
        b"<Tagging><TagSet><Tag><Key>a</Key>",  # not well-formed
        b"<Tagging><TagSet><Tag><Value>1</Value></Tag></TagSet></Tagging>",  # no Key
        b"<Tagging><Other/></Tagging>",  # unknown element
        b"<NotTagging><TagSet/></NotTagging>",  # wrong root
        b"<Tagging><TagSet><Tag><Key>a</Key><Bad>1</Bad></Tag></TagSet></Tagging>",
    ):
        resp = _raw_put_tagging(server, s3, bucket, "k", bad)
        assert resp.status_code == 400, bad
        assert b"<Code>MalformedXML</Code>" in resp.content, bad
    assert tags_of(s3, bucket, "k") == {}


def test_bad_tagging_header_stores_nothing(s3, bucket) -> None:
    with s3_error("InvalidTag", 400):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1&a=2")
    with s3_error("BadRequest", 400):
        s3.put_object(
            Bucket=bucket, Key="k", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(11))
        )
    with s3_error("InvalidTag", 400):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="k=" + "v" * 257)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


# ---------------------------------------------------------------------- versions


def test_tags_by_version(s3, bucket) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="gen=1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2", Tagging="gen=2")["VersionId"]
    assert tags_of(s3, bucket, "k") == {"gen": "2"}
    assert tags_of(s3, bucket, "k", VersionId=v1) == {"gen": "1"}
    resp = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1, Tagging=tagset(old="y"))
    assert resp["VersionId"] == v1
    assert tags_of(s3, bucket, "k", VersionId=v1) == {"old": "y"}
    assert tags_of(s3, bucket, "k") == {"gen": "2"}  # the current version is untouched
    got = s3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert got["VersionId"] == v1
    # the current version changed in place, seen by id and by listing as the same version
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagset(now="z"))
    assert tags_of(s3, bucket, "k", VersionId=v2) == {"now": "z"}
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v2)["VersionId"] == v2
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 2
    s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=v1)
    assert tags_of(s3, bucket, "k", VersionId=v1) == {}
    assert tags_of(s3, bucket, "k") == {"now": "z"}
    with s3_error("NoSuchVersion", 404):
        s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="0" * 32)
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with s3_error("MethodNotAllowed", 405):
        s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=marker, Tagging=tagset(a="1"))
    with s3_error("NoSuchKey", 404):
        s3.get_object_tagging(Bucket=bucket, Key="k")
    for v in s3.list_object_versions(Bucket=bucket)["Versions"]:
        s3.delete_object(Bucket=bucket, Key="k", VersionId=v["VersionId"])
    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)


# --------------------------------------------------------------- copy, multipart


def test_copy_keeps_tags_with_copy_and_replaces_with_replace(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1&b=2")
    s3.copy_object(Bucket=bucket, Key="dst1", CopySource={"Bucket": bucket, "Key": "src"})
    assert tags_of(s3, bucket, "dst1") == {"a": "1", "b": "2"}
    s3.copy_object(
        Bucket=bucket, Key="dst2", CopySource={"Bucket": bucket, "Key": "src"},
        TaggingDirective="COPY", Tagging="ignored=yes",
    )  # fmt: skip
    assert tags_of(s3, bucket, "dst2") == {"a": "1", "b": "2"}
    s3.copy_object(
        Bucket=bucket, Key="dst3", CopySource={"Bucket": bucket, "Key": "src"},
        TaggingDirective="REPLACE", Tagging="c=3",
    )  # fmt: skip
    assert tags_of(s3, bucket, "dst3") == {"c": "3"}
    s3.copy_object(
        Bucket=bucket, Key="dst4", CopySource={"Bucket": bucket, "Key": "src"},
        TaggingDirective="REPLACE",
    )  # fmt: skip
    assert tags_of(s3, bucket, "dst4") == {}
    assert tags_of(s3, bucket, "src") == {"a": "1", "b": "2"}
    with s3_error("InvalidArgument", 400):
        s3.copy_object(
            Bucket=bucket, Key="dst5", CopySource={"Bucket": bucket, "Key": "src"},
            TaggingDirective="MERGE",
        )  # fmt: skip
    with s3_error("InvalidTag", 400):
        s3.copy_object(
            Bucket=bucket, Key="dst1", CopySource={"Bucket": bucket, "Key": "src"},
            TaggingDirective="REPLACE", Tagging="x=1&x=2",
        )  # fmt: skip
    assert tags_of(s3, bucket, "dst1") == {"a": "1", "b": "2"}  # the failed copy changed nothing
    assert object_absent(s3, bucket, "dst5")


def test_multipart_tags_applied_at_complete(s3, bucket) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="Hello=World&foo=bar")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"x")
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )  # fmt: skip
    assert tags_of(s3, bucket, "mp") == {"Hello": "World", "foo": "bar"}
    with s3_error("InvalidTag", 400):
        s3.create_multipart_upload(Bucket=bucket, Key="mp2", Tagging="a=1&a=2")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


# ------------------------------------------------------------------- bucket tags


def test_bucket_tagging(s3, bucket, server) -> None:
    with s3_error("NoSuchTagSet", 404):
        s3.get_bucket_tagging(Bucket=bucket)
    resp = s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(team="storage", cost="42"))
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [
        {"Key": "cost", "Value": "42"},
        {"Key": "team", "Value": "storage"},
    ]
    fifty = {f"k{i}": str(i) for i in range(50)}
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(**fifty))
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    with s3_error("InvalidTag", 400):
        s3.put_bucket_tagging(Bucket=bucket, Tagging=tagset(**fifty, one="more"))
    resp = _raw_put_tagging(server, s3, bucket, None, b"<Tagging><TagSet><Tag>")
    assert resp.status_code == 400 and b"MalformedXML" in resp.content
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50  # nothing changed
    # bucket settings kept apart: versioning and the policy are untouched by tagging
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error("NoSuchTagSet", 404):
        s3.get_bucket_tagging(Bucket=bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


# ---------------------------------------------------------------- policy keys


def _tag_policy(name: str, bob: User, actions: list[str], condition: dict) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": bob.user_id},
        "Action": actions,
        "Resource": f"arn:aws:s3:::{name}/*",
        "Condition": condition,
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_policy_on_existing_object_tag(srv: CairnServer, bob: User) -> None:
    ca, cb = user_client(srv, bootstrap_user(srv)), user_client(srv, bob)
    name = unique("tagpol")
    ca.create_bucket(Bucket=name)
    ca.put_object(Bucket=name, Key="public", Body=b"p", Tagging="security=public")
    ca.put_object(Bucket=name, Key="private", Body=b"q", Tagging="security=private")
    ca.put_object(Bucket=name, Key="untagged", Body=b"r")
    condition = {"StringEquals": {"s3:ExistingObjectTag/security": "public"}}
    ca.put_bucket_policy(
        Bucket=name,
        Policy=_tag_policy(name, bob, ["s3:GetObject", "s3:PutObjectTagging"], condition),
    )
    assert cb.get_object(Bucket=name, Key="public")["Body"].read() == b"p"
    assert code(lambda: cb.get_object(Bucket=name, Key="private")) in DENIED
    assert code(lambda: cb.get_object(Bucket=name, Key="untagged")) in DENIED
    # GetObjectTagging is not granted, whatever the tags
    assert code(lambda: cb.get_object_tagging(Bucket=name, Key="public")) in DENIED
    # a tagging change is decided on the tags before it: bob can retag "public" once
    cb.put_object_tagging(Bucket=name, Key="public", Tagging=tagset(security="private"))
    assert code(lambda: cb.get_object(Bucket=name, Key="public")) in DENIED
    assert (
        code(
            lambda: cb.put_object_tagging(
                Bucket=name, Key="public", Tagging=tagset(security="public")
            )
        )
        in DENIED
    )


def test_policy_on_request_object_tag(srv: CairnServer, bob: User) -> None:
    ca, cb = user_client(srv, bootstrap_user(srv)), user_client(srv, bob)
    name = unique("reqtag")
    ca.create_bucket(Bucket=name)
    condition = {"StringEquals": {"s3:RequestObjectTag/security": "public"}}
    ca.put_bucket_policy(Bucket=name, Policy=_tag_policy(name, bob, ["s3:PutObject"], condition))
    assert code(lambda: cb.put_object(Bucket=name, Key="k", Body=b"x")) in DENIED
    cb.put_object(Bucket=name, Key="k", Body=b"x", Tagging="security=public")
    assert tags_of(ca, name, "k") == {"security": "public"}


def test_tagging_actions_need_their_own_grants(srv: CairnServer, bob: User) -> None:
    ca, cb = user_client(srv, bootstrap_user(srv)), user_client(srv, bob)
    name = unique("tagact")
    ca.create_bucket(Bucket=name)
    ca.put_object(Bucket=name, Key="k", Body=b"x", Tagging="a=1")
    assert code(lambda: cb.get_object_tagging(Bucket=name, Key="k")) in DENIED
    assert code(lambda: cb.put_bucket_tagging(Bucket=name, Tagging=tagset(a="1"))) in DENIED
    ca.put_bucket_policy(
        Bucket=name,
        Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": bob.user_id},
                "Action": ["s3:GetObjectTagging", "s3:DeleteObjectTagging"],
                "Resource": f"arn:aws:s3:::{name}/*",
            }],
        }),
    )  # fmt: skip
    assert tags_of(cb, name, "k") == {"a": "1"}
    assert (
        code(lambda: cb.put_object_tagging(Bucket=name, Key="k", Tagging=tagset(b="2"))) in DENIED
    )
    cb.delete_object_tagging(Bucket=name, Key="k")
    assert tags_of(ca, name, "k") == {}


def test_existing_tag_deny_holds_for_delete_objects(srv: CairnServer, bob: User) -> None:
    """A Deny on s3:ExistingObjectTag is decided key by key in DeleteObjects too, so a
    multi-object delete cannot get around it."""
    ca, cb = user_client(srv, bootstrap_user(srv)), user_client(srv, bob)
    name = unique("tagdel")
    ca.create_bucket(Bucket=name)
    ca.put_object(Bucket=name, Key="keep", Body=b"k", Tagging="protected=yes")
    ca.put_object(Bucket=name, Key="scratch", Body=b"s")
    resource = f"arn:aws:s3:::{name}/*"
    allow = {
        "Effect": "Allow",
        "Principal": {"AWS": bob.user_id},
        "Action": ["s3:DeleteObject"],
        "Resource": resource,
    }
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": bob.user_id},
        "Action": ["s3:DeleteObject"],
        "Resource": resource,
        "Condition": {"StringEquals": {"s3:ExistingObjectTag/protected": "yes"}},
    }
    ca.put_bucket_policy(
        Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [allow, deny]})
    )  # fmt: skip
    assert code(lambda: cb.delete_object(Bucket=name, Key="keep")) in DENIED
    out = cb.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "keep"}, {"Key": "scratch"}]})
    assert [d["Key"] for d in out.get("Deleted", [])] == ["scratch"]
    assert [(e["Key"], e["Code"]) for e in out.get("Errors", [])] == [("keep", "AccessDenied")]
    assert ca.get_object(Bucket=name, Key="keep")["Body"].read() == b"k"


def test_existing_tag_of_a_copy_source(srv: CairnServer, bob: User) -> None:
    """A copy's read of its source is decided on the source's tags."""
    ca, cb = user_client(srv, bootstrap_user(srv)), user_client(srv, bob)
    name, own = unique("tagsrc"), unique("bobdst")
    ca.create_bucket(Bucket=name)
    cb.create_bucket(Bucket=own)
    ca.put_object(Bucket=name, Key="public", Body=b"p", Tagging="share=yes")
    ca.put_object(Bucket=name, Key="private", Body=b"q")
    condition = {"StringEquals": {"s3:ExistingObjectTag/share": "yes"}}
    ca.put_bucket_policy(Bucket=name, Policy=_tag_policy(name, bob, ["s3:GetObject"], condition))
    cb.copy_object(Bucket=own, Key="copy", CopySource={"Bucket": name, "Key": "public"})
    assert cb.get_object(Bucket=own, Key="copy")["Body"].read() == b"p"
    assert tags_of(cb, own, "copy") == {"share": "yes"}  # COPY: the source's tags
    assert (
        code(
            lambda: cb.copy_object(
                Bucket=own, Key="c2", CopySource={"Bucket": name, "Key": "private"}
            )
        )
        in DENIED
    )
