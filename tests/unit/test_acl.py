"""gateway.authz.acl: canned ACLs against AWS's table, the x-amz-acl / x-amz-grant-* headers
with every error AWS gives, what an ACL allows whom, the stored form, and the Object
Ownership rules.

The expected grants are written out from AWS's "Canned ACL" table, not from the module's
own tables, so that an edit of the expansion fails here."""

from __future__ import annotations

import msgpack
import pytest
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
    GranteeType,
    Owner,
    Permission,
)

ALICE = Owner("a1ice-id", "alice")
BOB = Owner("b0b-id", "bob")
USERS = {ALICE.id: (ALICE.id, ALICE.display_name), BOB.id: (BOB.id, BOB.display_name)}
EMAILS = {"bob@example.com": (BOB.id, BOB.display_name)}
ALL, AUTH, LOG = ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY


def summary(a: Acl) -> list[tuple[str, str, str]]:
    """(grantee kind, id or uri, permission) of each grant, in order."""
    return [(g.type.value, g.id or g.uri or g.email or "", g.permission.value) for g in a.grants]


def user(o: Owner, perm: str) -> tuple[str, str, str]:
    return ("CanonicalUser", o.id, perm)


def group(uri: str, perm: str) -> tuple[str, str, str]:
    return ("Group", uri, perm)


# AWS's canned ACL table. Object owner alice; for the bucket-owner-* ACLs, bob owns the bucket.
CANNED = {
    "private": [user(ALICE, "FULL_CONTROL")],
    "public-read": [user(ALICE, "FULL_CONTROL"), group(ALL, "READ")],
    "public-read-write": [user(ALICE, "FULL_CONTROL"), group(ALL, "READ"), group(ALL, "WRITE")],
    "aws-exec-read": [user(ALICE, "FULL_CONTROL")],  # EC2's READ: no EC2 here
    "authenticated-read": [user(ALICE, "FULL_CONTROL"), group(AUTH, "READ")],
    "bucket-owner-read": [user(ALICE, "FULL_CONTROL"), user(BOB, "READ")],
    "bucket-owner-full-control": [user(ALICE, "FULL_CONTROL"), user(BOB, "FULL_CONTROL")],
    "log-delivery-write": [
        user(ALICE, "FULL_CONTROL"),
        group(LOG, "WRITE"),
        group(LOG, "READ_ACP"),
    ],
}


@pytest.mark.parametrize("name", sorted(CANNED))
def test_canned_acl_expands_as_aws_table(name: str) -> None:
    got = acl.canned(name, ALICE, bucket_owner=BOB)
    assert got.owner == ALICE
    assert summary(got) == CANNED[name]


@pytest.mark.parametrize("name", ["bucket-owner-read", "bucket-owner-full-control"])
def test_bucket_owner_canned_acls_are_private_on_a_bucket_or_for_the_bucket_owner(
    name: str,
) -> None:
    # AWS ignores them on CreateBucket; an object of the bucket owner needs no second grant.
    assert summary(acl.canned(name, ALICE)) == [user(ALICE, "FULL_CONTROL")]
    assert summary(acl.canned(name, ALICE, bucket_owner=ALICE)) == [user(ALICE, "FULL_CONTROL")]


def test_canned_owner_grant_carries_the_display_name() -> None:
    (grant,) = acl.canned("private", ALICE).grants
    assert grant.display_name == "alice"


def test_unknown_canned_acl_is_invalid_argument() -> None:
    with pytest.raises(errors.InvalidArgument) as e:
        acl.canned("public", ALICE)
    assert e.value.extra == {"ArgumentName": "x-amz-acl", "ArgumentValue": "public"}


# ---------------------------------------------------------------------------------------------
# Headers


def from_headers(headers: dict[str, str], bucket_owner: Owner | None = None) -> Acl | None:
    return acl.from_headers(headers, ALICE, USERS.get, EMAILS.get, bucket_owner)


def test_no_acl_headers_set_no_acl() -> None:
    assert from_headers({"content-type": "text/plain"}) is None


def test_x_amz_acl_header_is_the_canned_acl() -> None:
    got = from_headers({"x-amz-acl": "public-read"})
    assert got is not None and summary(got) == CANNED["public-read"]


def test_x_amz_acl_header_name_is_case_insensitive() -> None:
    got = from_headers({"X-Amz-Acl": "bucket-owner-read"}, bucket_owner=BOB)
    assert got is not None and summary(got) == CANNED["bucket-owner-read"]


def test_unknown_canned_header_is_invalid_argument() -> None:
    with pytest.raises(errors.InvalidArgument):
        from_headers({"x-amz-acl": "everyone"})


def test_canned_and_grant_headers_together_are_invalid_request() -> None:
    with pytest.raises(errors.InvalidRequest) as e:
        from_headers({"x-amz-acl": "private", "x-amz-grant-read": f'id="{BOB.id}"'})
    assert "both" in e.value.text


def test_grant_headers_make_the_whole_acl_without_an_owner_grant() -> None:
    got = from_headers(
        {
            "x-amz-grant-read": f'id="{BOB.id}", uri="{ALL}"',
            "x-amz-grant-write": f"id={BOB.id}",
            "x-amz-grant-read-acp": 'emailAddress="bob@example.com"',
            "x-amz-grant-write-acp": f'uri="{AUTH}"',
            "x-amz-grant-full-control": f'id="{ALICE.id}"',
        }
    )
    assert got is not None and got.owner == ALICE
    assert summary(got) == [
        user(BOB, "READ"),
        group(ALL, "READ"),
        user(BOB, "WRITE"),
        user(BOB, "READ_ACP"),  # the email resolved to bob's canonical id
        group(AUTH, "WRITE_ACP"),
        user(ALICE, "FULL_CONTROL"),
    ]
    assert got.grants[0].display_name == "bob"


def test_email_grant_is_stored_as_the_canonical_user() -> None:
    got = from_headers({"x-amz-grant-read": "emailaddress=bob@example.com"})
    assert got is not None
    (grant,) = got.grants
    assert (grant.type, grant.id, grant.email) == (GranteeType.CANONICAL_USER, BOB.id, None)


def test_unknown_grant_id_is_invalid_argument() -> None:
    # AWS, as observed: <Message>Invalid id</Message><ArgumentName>id</ArgumentName>
    with pytest.raises(errors.InvalidArgument) as e:
        from_headers({"x-amz-grant-read": 'id="_foo"'})
    assert e.value.text == "Invalid id"
    assert e.value.extra == {"ArgumentName": "id", "ArgumentValue": "_foo"}


def test_unknown_grant_email_is_unresolvable() -> None:
    with pytest.raises(errors.UnresolvableGrantByEmailAddress) as e:
        from_headers({"x-amz-grant-read": 'emailAddress="nobody@example.com"'})
    assert e.value.status == 400


def test_unknown_group_uri_is_invalid_argument() -> None:
    with pytest.raises(errors.InvalidArgument) as e:
        from_headers({"x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/Nobody"'})
    assert e.value.text == "Invalid group uri"


@pytest.mark.parametrize(
    "value",
    ["", "   ", "bob", 'id="b0b-id" id="b0b-id"', 'id="b0b-id",,', "=b0b-id", 'id="unterminated'],
)
def test_malformed_grant_header_is_invalid_argument(value: str) -> None:
    # AWS, as observed: "Argument format not recognized", the header's name and value echoed
    with pytest.raises(errors.InvalidArgument) as e:
        from_headers({"x-amz-grant-read": value})
    assert e.value.text == "Argument format not recognized"
    assert e.value.extra == {"ArgumentName": "x-amz-grant-read", "ArgumentValue": value}


def test_unknown_grantee_kind_in_header_is_invalid_argument() -> None:
    with pytest.raises(errors.InvalidArgument) as e:
        from_headers({"x-amz-grant-read": 'name="bob"'})
    assert e.value.text == "Argument format not recognized"


def test_has_acl_headers_and_canned_name() -> None:
    assert acl.has_acl_headers({"X-Amz-Grant-Write-Acp": "id=x"})
    assert not acl.has_acl_headers({"x-amz-meta-acl": "private"})
    assert acl.canned_name({"X-Amz-Acl": "public-read"}) == "public-read"
    assert acl.canned_name({}) is None


# ---------------------------------------------------------------------------------------------
# Decisions

PERMS = list(Permission)


def test_owner_full_control_allows_everything_to_the_owner_only() -> None:
    private = acl.private(ALICE)
    assert all(acl.allows(private, ALICE.id, p) for p in PERMS)
    assert not any(acl.allows(private, BOB.id, p) for p in PERMS)
    assert not any(acl.allows(private, None, p) for p in PERMS)


def test_full_control_grant_implies_every_permission() -> None:
    a = Acl(ALICE, (Grant.user(BOB, Permission.FULL_CONTROL),))
    assert all(acl.allows(a, BOB.id, p) for p in PERMS)


@pytest.mark.parametrize("perm", [p for p in PERMS if p is not Permission.FULL_CONTROL])
def test_a_single_permission_grants_only_itself(perm: Permission) -> None:
    a = Acl(ALICE, (Grant.user(BOB, perm),))
    assert [p for p in PERMS if acl.allows(a, BOB.id, p)] == [perm]


def test_all_users_includes_anonymous_callers() -> None:
    a = acl.canned("public-read", ALICE)
    assert acl.allows(a, None, Permission.READ)
    assert acl.allows(a, BOB.id, Permission.READ)
    assert not acl.allows(a, None, Permission.WRITE)


def test_authenticated_users_excludes_anonymous_callers() -> None:
    a = acl.canned("authenticated-read", ALICE)
    assert acl.allows(a, BOB.id, Permission.READ)
    assert not acl.allows(a, None, Permission.READ)


def test_log_delivery_grants_no_caller() -> None:
    a = acl.canned("log-delivery-write", ALICE)
    assert not acl.allows(a, BOB.id, Permission.WRITE)
    assert not acl.allows(a, None, Permission.WRITE)


def test_owner_keeps_acl_access_after_revoking_every_grant() -> None:
    empty = Acl(ALICE, ())
    assert acl.allows(empty, ALICE.id, Permission.READ_ACP)
    assert acl.allows(empty, ALICE.id, Permission.WRITE_ACP)
    assert not acl.allows(empty, ALICE.id, Permission.READ)
    assert not acl.allows(empty, BOB.id, Permission.READ_ACP)


@pytest.mark.parametrize(
    ("name", "public"),
    [
        ("private", False),
        ("public-read", True),
        ("public-read-write", True),
        ("authenticated-read", True),
        ("aws-exec-read", False),
        ("bucket-owner-read", False),
        ("bucket-owner-full-control", False),
        ("log-delivery-write", False),
    ],
)
def test_is_public_means_a_grant_to_all_or_authenticated_users(name: str, public: bool) -> None:
    assert acl.is_public(acl.canned(name, ALICE, BOB)) is public


def test_without_public_grants_keeps_the_rest() -> None:
    a = acl.canned("public-read-write", ALICE)
    assert summary(acl.without_public_grants(a)) == [user(ALICE, "FULL_CONTROL")]


def test_only_owner_full_control() -> None:
    assert acl.only_owner_full_control(acl.private(ALICE))
    assert acl.only_owner_full_control(Acl(ALICE, ()))
    assert not acl.only_owner_full_control(acl.canned("public-read", ALICE))
    assert not acl.only_owner_full_control(acl.canned("bucket-owner-read", ALICE, BOB))


# AWS, "Mapping of ACL permissions and access policy permissions".
@pytest.mark.parametrize(
    ("action", "on_object", "perm"),
    [
        ("s3:ListBucket", False, Permission.READ),
        ("s3:ListBucketVersions", False, Permission.READ),
        ("s3:ListBucketMultipartUploads", False, Permission.READ),
        ("s3:PutObject", False, Permission.WRITE),
        ("s3:DeleteObject", False, Permission.WRITE),
        ("s3:DeleteObjectVersion", False, Permission.WRITE),
        ("s3:GetBucketAcl", False, Permission.READ_ACP),
        ("s3:PutBucketAcl", False, Permission.WRITE_ACP),
        ("s3:GetObject", True, Permission.READ),
        ("s3:GetObjectVersion", True, Permission.READ),
        ("s3:GetObjectAcl", True, Permission.READ_ACP),
        ("s3:GetObjectVersionAcl", True, Permission.READ_ACP),
        ("s3:PutObjectAcl", True, Permission.WRITE_ACP),
        ("s3:PutObjectVersionAcl", True, Permission.WRITE_ACP),
        ("s3:GetObject", False, None),  # a bucket ACL does not grant reading objects
        ("s3:PutObject", True, None),  # nor does an object ACL grant overwriting
        ("s3:PutBucketPolicy", False, None),  # owner only
        ("s3:DeleteBucket", False, None),
    ],
)
def test_action_to_acl_permission(action: str, on_object: bool, perm: Permission | None) -> None:
    assert acl.permission_for(action, on_object=on_object) is perm


# ---------------------------------------------------------------------------------------------
# Storage form

grants = st.one_of(
    st.builds(
        lambda i, n, p: Grant(GranteeType.CANONICAL_USER, p, id=i, display_name=n),
        st.text(min_size=1),
        st.one_of(st.none(), st.text()),
        st.sampled_from(Permission),
    ),
    st.builds(
        lambda u, p: Grant.group(u, p),
        st.sampled_from([ALL, AUTH, LOG]),
        st.sampled_from(Permission),
    ),
    st.builds(
        lambda e, p: Grant(GranteeType.EMAIL, p, email=e),
        st.emails(),
        st.sampled_from(Permission),
    ),
)
acls = st.builds(
    lambda i, n, gs: Acl(Owner(i, n), tuple(gs)),
    st.text(min_size=1),
    st.text(),
    st.lists(grants, max_size=20),
)


@given(acls)
def test_to_dict_round_trips_through_msgpack(a: Acl) -> None:
    packed = msgpack.packb(a.to_dict(), use_bin_type=True)
    assert Acl.from_dict(msgpack.unpackb(packed, raw=False)) == a


def test_stored_form_is_compact() -> None:
    d = acl.canned("public-read", ALICE).to_dict()
    assert d == {
        "o": ALICE.id,
        "n": "alice",
        "g": [["u", "FULL_CONTROL", ALICE.id, "alice"], ["g", "READ", ALL]],
    }


# ---------------------------------------------------------------------------------------------
# Object Ownership

ENFORCED, PREFERRED, WRITER = "BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"


@pytest.mark.parametrize(
    ("ownership", "canned_name", "owner"),
    [
        (ENFORCED, None, ALICE),
        (ENFORCED, "bucket-owner-full-control", ALICE),
        (PREFERRED, None, BOB),
        (PREFERRED, "private", BOB),
        (PREFERRED, "bucket-owner-full-control", ALICE),
        (WRITER, "bucket-owner-full-control", BOB),
        (None, None, BOB),
    ],
)
def test_object_owner(ownership: str | None, canned_name: str | None, owner: Owner) -> None:
    # alice owns the bucket, bob writes the object
    assert acl.object_owner(ownership, BOB, ALICE, canned_name) == owner


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-amz-acl": "bucket-owner-full-control"},
        {"x-amz-grant-full-control": f'id="{ALICE.id}"'},
    ],
)
def test_enforced_bucket_accepts_writes_without_acl_or_with_owner_full_control(
    headers: dict[str, str],
) -> None:
    acl.check_acl_on_write(ENFORCED, headers, ALICE)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-acl": "private"},
        {"x-amz-acl": "public-read"},
        {"x-amz-grant-read": f'id="{ALICE.id}"'},
        {"x-amz-grant-full-control": f'id="{BOB.id}"'},
        {"x-amz-grant-full-control": f'id="{ALICE.id}"', "x-amz-grant-read": f'id="{BOB.id}"'},
    ],
)
def test_enforced_bucket_refuses_writes_setting_another_acl(headers: dict[str, str]) -> None:
    with pytest.raises(errors.AccessControlListNotSupported) as e:
        acl.check_acl_on_write(ENFORCED, headers, ALICE)
    assert e.value.status == 400


@pytest.mark.parametrize("ownership", [PREFERRED, WRITER, None])
def test_other_ownership_settings_accept_any_acl_on_write(ownership: str | None) -> None:
    acl.check_acl_on_write(ownership, {"x-amz-acl": "public-read"}, ALICE)
    acl.check_acl_put(ownership)


def test_enforced_bucket_refuses_put_acl() -> None:
    with pytest.raises(errors.AccessControlListNotSupported):
        acl.check_acl_put(ENFORCED)


def test_enforcing_needs_a_bucket_acl_for_the_owner_alone() -> None:
    acl.check_enforce_allowed(ENFORCED, acl.private(ALICE))
    acl.check_enforce_allowed(PREFERRED, acl.canned("public-read", ALICE))
    with pytest.raises(errors.InvalidBucketAclWithObjectOwnership) as e:
        acl.check_enforce_allowed(ENFORCED, acl.canned("public-read", ALICE))
    assert e.value.status == 400


def test_acl_reads_show_the_bucket_owner_when_enforced() -> None:
    stored = acl.canned("public-read", BOB)
    assert acl.acl_for_reading(ENFORCED, stored, ALICE) == acl.private(ALICE)
    assert acl.acl_for_reading(WRITER, stored, ALICE) == stored
    assert not acl.acls_enabled(ENFORCED)
    assert acl.acls_enabled(PREFERRED) and acl.acls_enabled(None)


# ---------------------------------------------------------------------------------------------
# The grant header grammar, generated

grantee_values = st.one_of(
    st.sampled_from([("id", ALICE.id), ("id", BOB.id), ("emailAddress", "bob@example.com")]),
    st.sampled_from([("uri", ALL), ("uri", AUTH), ("uri", LOG)]),
)


@given(
    st.dictionaries(
        st.sampled_from(sorted(acl.GRANT_HEADERS)),
        st.lists(
            st.tuples(grantee_values, st.booleans(), st.sampled_from(["", " "])),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
    )
)
def test_any_well_formed_grant_headers_parse_to_their_grants(headers: dict) -> None:
    """Quoted or bare values, blanks around commas: each grantee becomes one grant with
    the header's permission, in header order (read, write, read-acp, write-acp, full-control)."""
    text = {
        name: ",".join(
            f'{pad}{kind}="{value}"' if quoted else f"{pad}{kind}={value}"
            for (kind, value), quoted, pad in entries
        )
        for name, entries in headers.items()
    }
    got = from_headers(text)
    assert got is not None
    expected = [
        (acl.GRANT_HEADERS[name].value, EMAILS[value][0] if kind == "emailAddress" else value)
        for name in acl.GRANT_HEADERS
        for (kind, value), _, _ in headers.get(name, [])
    ]
    assert [(g.permission.value, g.id or g.uri) for g in got.grants] == expected
