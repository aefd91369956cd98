"""S3 Block Public Access on a bucket, as pure rules (AWS: "Blocking public access to your
Amazon S3 storage").

The four settings, and where each one bites:

- BlockPublicAcls: a request that *sets* a public ACL is refused with AccessDenied —
  PutBucketAcl, PutObjectAcl, and PutObject/CopyObject/CreateMultipartUpload (and
  CreateBucket) carrying a public canned ACL or grant headers. ACLs already stored stay.
- IgnorePublicAcls: public grants (AllUsers, AuthenticatedUsers) are ignored when deciding
  access, on the bucket and on every object in it. They are still stored and shown.
- BlockPublicPolicy: PutBucketPolicy of a public policy is refused with AccessDenied.
- RestrictPublicBuckets: while the bucket's policy is public, its Allow statements count
  only for callers of the bucket owner's account (here: the owner itself, since a user is
  the account); anonymous and cross-account access that the policy would grant, even to
  named accounts, is blocked. Deny statements still apply to everyone.

"Public" is AWS's meaning: an ACL granting anything to AllUsers or AuthenticatedUsers
(``gateway.authz.acl.is_public``); a policy per ``gateway.authz.policy.is_public``, which
the caller evaluates and passes in as a bool, so this module needs no policy engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.authz.acl import Acl, Permission, allows, is_public, without_public_grants
from gateway.errors import AccessDenied


@dataclass(frozen=True)
class PublicAccessBlock:
    """A bucket's PublicAccessBlockConfiguration; absent settings are false (AWS)."""

    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    def to_dict(self) -> dict[str, bool]:
        return {
            "bpa": self.block_public_acls,
            "ipa": self.ignore_public_acls,
            "bpp": self.block_public_policy,
            "rpb": self.restrict_public_buckets,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublicAccessBlock:
        return cls(
            bool(data.get("bpa", False)),
            bool(data.get("ipa", False)),
            bool(data.get("bpp", False)),
            bool(data.get("rpb", False)),
        )


# A bucket without a configuration blocks nothing.
NO_BLOCK = PublicAccessBlock()


def check_acl_write(pab: PublicAccessBlock | None, acl: Acl | None) -> None:
    """BlockPublicAcls: refuse a request that would set a public ACL (AccessDenied).
    ``acl`` is what the request sets (None: it sets none, nothing to refuse)."""
    if pab is not None and pab.block_public_acls and acl is not None and is_public(acl):
        raise AccessDenied()


def effective_acl(pab: PublicAccessBlock | None, acl: Acl) -> Acl:
    """The ACL access is decided on: without its public grants under IgnorePublicAcls."""
    if pab is not None and pab.ignore_public_acls:
        return without_public_grants(acl)
    return acl


def acl_allows(
    pab: PublicAccessBlock | None, acl: Acl, user_id: str | None, permission: Permission
) -> bool:
    """``allows`` on the ACL as IgnorePublicAcls leaves it."""
    return allows(effective_acl(pab, acl), user_id, permission)


def check_policy_write(pab: PublicAccessBlock | None, policy_is_public: bool) -> None:
    """BlockPublicPolicy: refuse PutBucketPolicy of a public policy (AccessDenied)."""
    if pab is not None and pab.block_public_policy and policy_is_public:
        raise AccessDenied()


def policy_allow_counts(
    pab: PublicAccessBlock | None,
    policy_is_public: bool,
    user_id: str | None,
    bucket_owner_id: str,
) -> bool:
    """Whether an Allow from the bucket policy may grant this caller anything.

    RestrictPublicBuckets with a public policy: only the bucket owner's own account keeps
    what the policy allows; everyone else (anonymous included) loses it. A Deny is never
    filtered: callers apply this to Allows only."""
    if pab is None or not pab.restrict_public_buckets or not policy_is_public:
        return True
    return user_id is not None and user_id == bucket_owner_id


def bucket_is_public(
    pab: PublicAccessBlock | None, policy_is_public: bool, bucket_acl: Acl | None
) -> bool:
    """GetBucketPolicyStatus's IsPublic: the bucket is public when its policy is, or when
    its ACL is and IgnorePublicAcls does not set that ACL aside (AWS, "The meaning of
    'public'", which covers ACLs and policies alike)."""
    if policy_is_public:
        return True
    if bucket_acl is None:
        return False
    return is_public(effective_acl(pab, bucket_acl))
