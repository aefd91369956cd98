"""gateway.wire.acl and gateway.wire.bucket_config: AWS's documented example bodies parse and
render as AWS shows them; botocore (the client the Ceph suite and most tools use) reads
what we render and writes what we parse; every malformed body gets AWS's error."""

from __future__ import annotations

import re

import botocore.session
import pytest
from botocore.parsers import RestXMLParser
from botocore.serialize import create_serializer
from hypothesis import given
from hypothesis import strategies as st

from gateway import errors
from gateway.authz import acl
from gateway.authz.acl import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    LOG_DELIVERY,
    Acl,
    Grant,
    Owner,
    Permission,
)
from gateway.authz.public import PublicAccessBlock
from gateway.wire import acl as wire
from gateway.wire import bucket_config

S3 = botocore.session.get_session().get_service_model("s3")

OWNER_ID = "852b113e7a2f25102679df27bb0ae12b3f85be6BucketOwnerCanonicalUserID"
TEST_ID = "f30716ab7115dcb44a5ef76e9d74b8e20567f63TestAccountCanonicalUserID"
OWNER = Owner(OWNER_ID, "OwnerDisplayName")
TESTER = Owner(TEST_ID, "tester")
USERS = {OWNER_ID: (OWNER_ID, "OwnerDisplayName"), TEST_ID: (TEST_ID, "tester")}
EMAILS = {"xyz@amazon.com": (TEST_ID, "tester")}

# AWS PutBucketAcl, "Example 1: Access permissions specified in the body".
AWS_PUT_BUCKET_ACL = f"""<AccessControlPolicy>
  <Owner>
    <ID>{OWNER_ID}</ID>
    <DisplayName>OwnerDisplayName</DisplayName>
  </Owner>
  <AccessControlList>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">
        <ID>{OWNER_ID}</ID>
        <DisplayName>OwnerDisplayName</DisplayName>
      </Grantee>
      <Permission>FULL_CONTROL</Permission>
    </Grant>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">
        <URI xmlns="">http://acs.amazonaws.com/groups/global/AllUsers</URI>
      </Grantee>
      <Permission xmlns="">READ</Permission>
    </Grant>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">
        <URI xmlns="">http://acs.amazonaws.com/groups/s3/LogDelivery</URI>
      </Grantee>
      <Permission xmlns="">WRITE</Permission>
    </Grant>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AmazonCustomerByEmail">
        <EmailAddress xmlns="">xyz@amazon.com</EmailAddress>
      </Grantee>
      <Permission xmlns="">WRITE_ACP</Permission>
    </Grant>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">
        <ID xmlns="">{TEST_ID}</ID>
      </Grantee>
      <Permission xmlns="">READ_ACP</Permission>
    </Grant>
  </AccessControlList>
</AccessControlPolicy>""".encode()

# AWS GetBucketAcl, sample response (the owner's FULL_CONTROL alone).
AWS_GET_BUCKET_ACL = """<?xml version="1.0" encoding="UTF-8"?>
<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Owner>
    <ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>
    <DisplayName>CustomersName@amazon.com</DisplayName>
  </Owner>
  <AccessControlList>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">
        <ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>
        <DisplayName>CustomersName@amazon.com</DisplayName>
      </Grantee>
      <Permission>FULL_CONTROL</Permission>
    </Grant>
  </AccessControlList>
</AccessControlPolicy>"""


def squeeze(xml: str) -> str:
    return re.sub(r">\s+<", "><", xml.strip())


def parse(body: bytes, owner: Owner = OWNER) -> Acl:
    return wire.parse_policy(body, owner, USERS.get, EMAILS.get)


def summary(a: Acl) -> list[tuple[str, str, str]]:
    return [(g.type.value, g.id or g.uri or "", g.permission.value) for g in a.grants]


def test_aws_put_bucket_acl_example_parses_with_email_resolved() -> None:
    got = parse(AWS_PUT_BUCKET_ACL)
    assert got.owner == OWNER
    assert summary(got) == [
        ("CanonicalUser", OWNER_ID, "FULL_CONTROL"),
        ("Group", ALL_USERS, "READ"),
        ("Group", LOG_DELIVERY, "WRITE"),
        ("CanonicalUser", TEST_ID, "WRITE_ACP"),
        ("CanonicalUser", TEST_ID, "READ_ACP"),
    ]
    # display names are the users', not what the body said
    assert [g.display_name for g in got.grants if g.id == TEST_ID] == ["tester", "tester"]


def test_private_acl_renders_as_aws_get_bucket_acl_example() -> None:
    owner = Owner(
        "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a",
        "CustomersName@amazon.com",
    )
    assert wire.render(acl.private(owner)).decode() == squeeze(AWS_GET_BUCKET_ACL).replace(
        "?>", "?>\n", 1
    )


def test_group_grantees_render_first_and_without_display_names() -> None:
    body = wire.render(acl.canned("public-read-write", OWNER)).decode()
    uris = [m.start() for m in re.finditer("<URI>", body)]
    ids = [m.start() for m in re.finditer("<Grantee[^>]*><ID>", body)]
    assert len(uris) == 2 and len(ids) == 1 and max(uris) < min(ids)
    assert body.count("<DisplayName>") == 2  # Owner and the owner's grant only


def test_display_names_can_be_left_out_as_aws_now_does() -> None:
    body = wire.render(acl.canned("public-read", OWNER), display_names=False).decode()
    assert "DisplayName" not in body and OWNER_ID in body


def get_acl_as_botocore_reads_it(body: bytes) -> dict:
    op = S3.operation_model("GetBucketAcl")
    return RestXMLParser().parse({"body": body, "headers": {}, "status_code": 200}, op.output_shape)


def test_botocore_reads_rendered_acl_as_the_ceph_suite_expects() -> None:
    a = Acl(
        OWNER,
        (
            Grant.user(OWNER, Permission.FULL_CONTROL),
            Grant.group(AUTHENTICATED_USERS, Permission.READ),
        ),
    )
    got = get_acl_as_botocore_reads_it(wire.render(a))
    assert got["Owner"] == {"ID": OWNER_ID, "DisplayName": "OwnerDisplayName"}
    assert got["Grants"] == [
        {"Grantee": {"Type": "Group", "URI": AUTHENTICATED_USERS}, "Permission": "READ"},
        {
            "Grantee": {"Type": "CanonicalUser", "ID": OWNER_ID, "DisplayName": "OwnerDisplayName"},
            "Permission": "FULL_CONTROL",
        },
    ]


def put_acl_body_as_botocore_writes_it(policy: dict) -> bytes:
    op = S3.operation_model("PutBucketAcl")
    request = create_serializer("rest-xml").serialize_to_request(
        {"Bucket": "b", "AccessControlPolicy": policy}, op
    )
    return request["body"]


def test_botocore_put_bucket_acl_body_parses() -> None:
    body = put_acl_body_as_botocore_writes_it(
        {
            "Owner": {"ID": OWNER_ID, "DisplayName": "ignored"},
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": TEST_ID}, "Permission": "READ"},
                {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "WRITE"},
                {
                    "Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "xyz@amazon.com"},
                    "Permission": "FULL_CONTROL",
                },
            ],
        }
    )
    got = parse(body)
    assert got.owner == OWNER  # the resource owner, with its real display name
    assert summary(got) == [
        ("CanonicalUser", TEST_ID, "READ"),
        ("Group", ALL_USERS, "WRITE"),
        ("CanonicalUser", TEST_ID, "FULL_CONTROL"),
    ]


def test_empty_grant_list_revokes_everything() -> None:
    body = put_acl_body_as_botocore_writes_it({"Owner": {"ID": OWNER_ID}, "Grants": []})
    assert parse(body) == Acl(OWNER, ())


grantees = st.one_of(
    st.sampled_from([OWNER, TESTER]).map(lambda o: ("u", o)),
    st.sampled_from([ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY]).map(lambda u: ("g", u)),
)


@given(st.lists(st.tuples(grantees, st.sampled_from(Permission)), max_size=20))
def test_render_then_parse_keeps_every_grant(entries: list) -> None:
    grants = tuple(
        Grant.user(who, perm) if kind == "u" else Grant.group(who, perm)
        for (kind, who), perm in entries
    )
    original = Acl(OWNER, grants)
    again = parse(wire.render(original))
    assert again.owner == OWNER
    assert again.grants == tuple(wire.display_order(grants))


# ---------------------------------------------------------------------------------------------
# Bad bodies


def body_with(grant: str, owner: str = f"<Owner><ID>{OWNER_ID}</ID></Owner>") -> bytes:
    return (
        '<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"{owner}<AccessControlList>{grant}</AccessControlList></AccessControlPolicy>"
    ).encode()


def grant(grantee: str, permission: str = "READ", kind: str = "CanonicalUser") -> str:
    return f'<Grant><Grantee xsi:type="{kind}">{grantee}</Grantee><Permission>{permission}</Permission></Grant>'


MALFORMED = {
    "not xml": b"<AccessControlPolicy><Owner>",
    "wrong root": b"<AccessControlList></AccessControlList>",
    "no owner": body_with(grant(f"<ID>{TEST_ID}</ID>"), owner=""),
    "owner without id": body_with(
        grant(f"<ID>{TEST_ID}</ID>"), owner="<Owner><DisplayName>x</DisplayName></Owner>"
    ),
    "unknown permission": body_with(grant(f"<ID>{TEST_ID}</ID>", permission="DELETE")),
    "lower-case permission": body_with(grant(f"<ID>{TEST_ID}</ID>", permission="read")),
    "no permission": body_with(
        f'<Grant><Grantee xsi:type="CanonicalUser"><ID>{TEST_ID}</ID></Grantee></Grant>'
    ),
    "no grantee": body_with("<Grant><Permission>READ</Permission></Grant>"),
    "no xsi:type": body_with(
        f"<Grant><Grantee><ID>{TEST_ID}</ID></Grantee><Permission>READ</Permission></Grant>"
    ),
    "unknown xsi:type": body_with(grant(f"<ID>{TEST_ID}</ID>", kind="Robot")),
    "user without id": body_with(grant("<DisplayName>x</DisplayName>")),
    "group without uri": body_with(grant(f"<ID>{TEST_ID}</ID>", kind="Group")),
    "email without address": body_with(grant("<ID>x</ID>", kind="AmazonCustomerByEmail")),
    "stray element in list": body_with("<Robot/>"),
    "unbound xsi prefix": (
        f"<AccessControlPolicy><Owner><ID>{OWNER_ID}</ID></Owner><AccessControlList>"
        f'<Grant><Grantee xsi:type="CanonicalUser"><ID>{TEST_ID}</ID></Grantee>'
        "<Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"
    ).encode(),
    "101 grants": body_with(grant(f"<ID>{TEST_ID}</ID>") * 101),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_body_is_malformed_acl_error(name: str) -> None:
    with pytest.raises(errors.MalformedACLError) as e:
        parse(MALFORMED[name])
    assert e.value.status == 400


def test_a_hundred_grants_are_accepted() -> None:
    assert len(parse(body_with(grant(f"<ID>{TEST_ID}</ID>") * 100)).grants) == 100


def test_unknown_canonical_id_is_invalid_argument() -> None:
    with pytest.raises(errors.InvalidArgument):
        parse(body_with(grant("<ID>_foo</ID>")))


def test_unknown_group_is_invalid_argument() -> None:
    with pytest.raises(errors.InvalidArgument):
        parse(
            body_with(
                grant("<URI>http://acs.amazonaws.com/groups/global/Robots</URI>", kind="Group")
            )
        )


def test_unknown_email_is_unresolvable() -> None:
    with pytest.raises(errors.UnresolvableGrantByEmailAddress):
        parse(
            body_with(
                grant(
                    "<EmailAddress>doesnotexist@example.invalid</EmailAddress>",
                    kind="AmazonCustomerByEmail",
                )
            )
        )


def test_owner_other_than_the_resource_owner_is_access_denied() -> None:
    with pytest.raises(errors.AccessDenied):
        parse(body_with(grant(f"<ID>{TEST_ID}</ID>")), owner=TESTER)


# ---------------------------------------------------------------------------------------------
# Headers or body (PutBucketAcl, PutObjectAcl)


def from_request(headers: dict[str, str], body: bytes) -> Acl:
    return wire.acl_from_request(headers, body, OWNER, USERS.get, EMAILS.get)


def test_request_with_canned_header_and_no_body() -> None:
    assert from_request({"x-amz-acl": "public-read"}, b"") == acl.canned("public-read", OWNER)


def test_request_with_grant_headers() -> None:
    got = from_request({"x-amz-grant-read": f'id="{TEST_ID}"'}, b"")
    assert summary(got) == [("CanonicalUser", TEST_ID, "READ")]


def test_request_with_body() -> None:
    assert summary(from_request({}, AWS_PUT_BUCKET_ACL))[0] == (
        "CanonicalUser",
        OWNER_ID,
        "FULL_CONTROL",
    )


def test_request_with_headers_and_body_is_unexpected_content() -> None:
    with pytest.raises(errors.UnexpectedContent):
        from_request({"x-amz-acl": "private"}, AWS_PUT_BUCKET_ACL)


def test_request_with_neither_is_malformed() -> None:
    with pytest.raises(errors.MalformedACLError):
        from_request({}, b"  ")


# ---------------------------------------------------------------------------------------------
# OwnershipControls, PublicAccessBlockConfiguration, PolicyStatus


@pytest.mark.parametrize("value", ["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"])
def test_ownership_controls_round_trip_through_botocore(value: str) -> None:
    op = S3.operation_model("PutBucketOwnershipControls")
    request = create_serializer("rest-xml").serialize_to_request(
        {"Bucket": "b", "OwnershipControls": {"Rules": [{"ObjectOwnership": value}]}}, op
    )
    assert bucket_config.parse_ownership(request["body"]) == value
    out = S3.operation_model("GetBucketOwnershipControls").output_shape
    parsed = RestXMLParser().parse(
        {"body": bucket_config.render_ownership(value), "headers": {}, "status_code": 200}, out
    )
    assert parsed["OwnershipControls"] == {"Rules": [{"ObjectOwnership": value}]}


@pytest.mark.parametrize(
    "body",
    [
        b"<OwnershipControls/>",
        b"<OwnershipControls><Rule/></OwnershipControls>",
        b"<OwnershipControls><Rule><ObjectOwnership>Everyone</ObjectOwnership></Rule></OwnershipControls>",
        b"<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>"
        b"<Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>",
        b"<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership><X/></Rule></OwnershipControls>",
        b"<Ownership><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></Ownership>",
        b"<OwnershipControls>",
    ],
)
def test_bad_ownership_controls_are_malformed_xml(body: bytes) -> None:
    with pytest.raises(errors.MalformedXML):
        bucket_config.parse_ownership(body)


def test_ownership_header() -> None:
    assert bucket_config.ownership_header(None) is None
    assert bucket_config.ownership_header("ObjectWriter") == "ObjectWriter"
    with pytest.raises(errors.InvalidArgument):
        bucket_config.ownership_header("objectwriter")


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_public_access_block_round_trips_through_botocore(
    a: bool, b: bool, c: bool, d: bool
) -> None:
    conf = {
        "BlockPublicAcls": a,
        "IgnorePublicAcls": b,
        "BlockPublicPolicy": c,
        "RestrictPublicBuckets": d,
    }
    op = S3.operation_model("PutPublicAccessBlock")
    request = create_serializer("rest-xml").serialize_to_request(
        {"Bucket": "b", "PublicAccessBlockConfiguration": conf}, op
    )
    pab = bucket_config.parse_public_access_block(request["body"])
    assert pab == PublicAccessBlock(a, b, c, d)
    out = S3.operation_model("GetPublicAccessBlock").output_shape
    body = bucket_config.render_public_access_block(pab)
    parsed = RestXMLParser().parse({"body": body, "headers": {}, "status_code": 200}, out)
    assert parsed["PublicAccessBlockConfiguration"] == conf


def test_public_access_block_missing_settings_are_false() -> None:
    body = b"<PublicAccessBlockConfiguration><BlockPublicPolicy>TRUE</BlockPublicPolicy></PublicAccessBlockConfiguration>"
    assert bucket_config.parse_public_access_block(body) == PublicAccessBlock(
        block_public_policy=True
    )
    assert (
        bucket_config.parse_public_access_block(b"<PublicAccessBlockConfiguration/>")
        == PublicAccessBlock()
    )


@pytest.mark.parametrize(
    "body",
    [
        b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>",
        b"<PublicAccessBlockConfiguration><BlockPublicAcls/></PublicAccessBlockConfiguration>",
        b"<PublicAccessBlockConfiguration><BlockEverything>true</BlockEverything></PublicAccessBlockConfiguration>",
        b"<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>"
        b"<BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlockConfiguration>",
        b"<PublicAccessBlock><BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlock>",
        b"not xml",
    ],
)
def test_bad_public_access_block_is_malformed_xml(body: bytes) -> None:
    with pytest.raises(errors.MalformedXML):
        bucket_config.parse_public_access_block(body)


@pytest.mark.parametrize("public", [True, False])
def test_policy_status_as_botocore_reads_it(public: bool) -> None:
    out = S3.operation_model("GetBucketPolicyStatus").output_shape
    body = bucket_config.render_policy_status(public)
    parsed = RestXMLParser().parse({"body": body, "headers": {}, "status_code": 200}, out)
    assert parsed["PolicyStatus"] == {"IsPublic": public}
