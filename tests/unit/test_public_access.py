"""gateway.authz.public: AWS's Block Public Access settings, each on its own and together,
as the Ceph suite's public_block tests and AWS's "Blocking public access" page describe."""

from __future__ import annotations

import itertools

import pytest

from gateway import errors
from gateway.authz import acl, public
from gateway.authz.acl import Acl, Grant, Owner, Permission
from gateway.authz.public import NO_BLOCK, PublicAccessBlock

ALICE = Owner("alice-id", "alice")
BOB = Owner("bob-id", "bob")
PUBLIC_CANNED = ["public-read", "public-read-write", "authenticated-read"]
PRIVATE_CANNED = [
    "private",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
    "aws-exec-read",
]

ALL_SETTINGS = [PublicAccessBlock(*bits) for bits in itertools.product([False, True], repeat=4)]


@pytest.mark.parametrize("name", PUBLIC_CANNED)
def test_block_public_acls_refuses_setting_a_public_acl(name: str) -> None:
    with pytest.raises(errors.AccessDenied) as e:
        public.check_acl_write(PublicAccessBlock(block_public_acls=True), acl.canned(name, ALICE))
    assert e.value.status == 403


def test_block_public_acls_refuses_a_public_grant_among_others() -> None:
    a = Acl(
        ALICE,
        (
            Grant.user(BOB, Permission.READ),
            Grant.group(acl.AUTHENTICATED_USERS, Permission.READ_ACP),
        ),
    )
    with pytest.raises(errors.AccessDenied):
        public.check_acl_write(PublicAccessBlock(block_public_acls=True), a)


@pytest.mark.parametrize("name", PRIVATE_CANNED)
def test_block_public_acls_lets_private_acls_through(name: str) -> None:
    public.check_acl_write(PublicAccessBlock(block_public_acls=True), acl.canned(name, ALICE, BOB))


@pytest.mark.parametrize("pab", [None, NO_BLOCK, PublicAccessBlock(False, True, True, True)])
def test_without_block_public_acls_public_acls_may_be_set(pab: PublicAccessBlock | None) -> None:
    public.check_acl_write(pab, acl.canned("public-read-write", ALICE))


def test_a_request_setting_no_acl_is_never_refused() -> None:
    public.check_acl_write(PublicAccessBlock(True, True, True, True), None)


def test_ignore_public_acls_sets_public_grants_aside_when_deciding() -> None:
    a = acl.canned("public-read", ALICE)
    ignore = PublicAccessBlock(ignore_public_acls=True)
    assert public.acl_allows(None, a, None, Permission.READ)
    assert public.acl_allows(None, a, BOB.id, Permission.READ)
    assert not public.acl_allows(ignore, a, None, Permission.READ)
    assert not public.acl_allows(ignore, a, BOB.id, Permission.READ)
    assert public.acl_allows(ignore, a, ALICE.id, Permission.READ)  # the owner's grant stays


def test_ignore_public_acls_keeps_grants_to_named_users() -> None:
    a = Acl(ALICE, (Grant.user(BOB, Permission.READ), Grant.group(acl.ALL_USERS, Permission.WRITE)))
    got = public.effective_acl(PublicAccessBlock(ignore_public_acls=True), a)
    assert got.grants == (Grant.user(BOB, Permission.READ),)
    assert public.effective_acl(PublicAccessBlock(block_public_acls=True), a) == a


def test_block_public_policy_refuses_only_public_policies() -> None:
    block = PublicAccessBlock(block_public_policy=True)
    with pytest.raises(errors.AccessDenied):
        public.check_policy_write(block, policy_is_public=True)
    public.check_policy_write(block, policy_is_public=False)
    public.check_policy_write(PublicAccessBlock(True, True, False, True), policy_is_public=True)
    public.check_policy_write(None, policy_is_public=True)


@pytest.mark.parametrize(
    ("caller", "counts"),
    [(ALICE.id, True), (BOB.id, False), (None, False)],
)
def test_restrict_public_buckets_keeps_a_public_policy_for_the_owner_only(
    caller: str | None, counts: bool
) -> None:
    restrict = PublicAccessBlock(restrict_public_buckets=True)
    assert public.policy_allow_counts(restrict, True, caller, ALICE.id) is counts


@pytest.mark.parametrize("caller", [ALICE.id, BOB.id, None])
def test_restrict_public_buckets_leaves_non_public_policies_alone(caller: str | None) -> None:
    restrict = PublicAccessBlock(restrict_public_buckets=True)
    assert public.policy_allow_counts(restrict, False, caller, ALICE.id)
    assert public.policy_allow_counts(None, True, caller, ALICE.id)
    assert public.policy_allow_counts(
        PublicAccessBlock(True, True, True, False), True, caller, ALICE.id
    )


@pytest.mark.parametrize("pab", ALL_SETTINGS)
def test_settings_act_independently(pab: PublicAccessBlock) -> None:
    """Each setting changes exactly its own decision, whatever the other three are."""
    public_acl = acl.canned("public-read", ALICE)
    refused = False
    try:
        public.check_acl_write(pab, public_acl)
    except errors.AccessDenied:
        refused = True
    assert refused is pab.block_public_acls
    assert public.acl_allows(pab, public_acl, None, Permission.READ) is not pab.ignore_public_acls
    try:
        public.check_policy_write(pab, True)
        refused = False
    except errors.AccessDenied:
        refused = True
    assert refused is pab.block_public_policy
    assert public.policy_allow_counts(pab, True, None, ALICE.id) is not pab.restrict_public_buckets


def test_bucket_is_public_by_policy_or_by_acl() -> None:
    private, public_read = acl.private(ALICE), acl.canned("public-read", ALICE)
    auth_read = acl.canned("authenticated-read", ALICE)
    assert not public.bucket_is_public(None, False, private)
    assert not public.bucket_is_public(None, False, None)
    assert public.bucket_is_public(None, True, private)
    assert public.bucket_is_public(None, False, public_read)
    assert public.bucket_is_public(None, False, auth_read)
    assert not public.bucket_is_public(
        PublicAccessBlock(ignore_public_acls=True), False, public_read
    )


def test_stored_form_round_trips() -> None:
    for pab in ALL_SETTINGS:
        assert PublicAccessBlock.from_dict(pab.to_dict()) == pab
    assert PublicAccessBlock.from_dict({}) == NO_BLOCK
