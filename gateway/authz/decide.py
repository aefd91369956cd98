"""The one access decision: may this caller do this action on this bucket (or object)?

Inputs: the caller (a user through a key, or anonymous), the action the operation needs
(gateway.authz.actions), the bucket's owner and access configuration, the object's owner
and ACL (read only when they can change the answer), and the request's condition context.

The order, as AWS evaluates within one account and across accounts:
1. A key narrowed to some buckets must hold the right the action needs (read, write,
   owner) on this bucket, whoever owns it; an anonymous caller holds no key right.
2. An explicit Deny of the bucket policy wins (except for the bucket owner's own
   Get/Put/DeleteBucketPolicy, so a lock-out can be undone).
   A key that names this bucket itself was given its rights there by the administrator
   (`cairn admin key ... --bucket B --read`): that is a grant, whoever owns the bucket.
3. The bucket owner may do anything in its bucket; reads of an object that another user
   owns (ACLs enabled) need that object's ACL, as on AWS.
4. Anyone else needs an Allow of the policy (unless RestrictPublicBuckets sets a public
   policy's Allows aside) or a grant of the ACL that decides the action (the bucket ACL
   for bucket actions and writes into the bucket, the object ACL for reads of an object);
   ACLs decide nothing under BucketOwnerEnforced, public grants nothing under
   IgnorePublicAcls.
5. Whoever started a multipart upload may list its parts and abort it (AWS).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from gateway.authz import acl as acls
from gateway.authz import policies
from gateway.authz.actions import OWNER_ALWAYS, Need
from gateway.authz.caller import Caller
from gateway.authz.public import NO_BLOCK, PublicAccessBlock, acl_allows, policy_allow_counts
from gateway.errors import AccessDenied
from gateway.objects.types import BucketConfig, ObjectAccess

LIST_BUCKET = Need("s3:ListBucket", False, "read")
INITIATOR_ACTIONS = frozenset({"s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"})
InitiatorLoader = Callable[[], Awaitable[str | None]]  # an upload's initiator, if it exists
ObjectLoader = Callable[[], Awaitable[ObjectAccess | None]]


@dataclass
class BucketView:
    """A bucket's configuration as decisions read it: owner resolved, models built."""

    name: str
    owner: acls.Owner
    acl: acls.Acl
    policy: str | None
    ownership: str | None
    pab: PublicAccessBlock
    pab_set: bool = False  # a PublicAccessBlock was put (GetPublicAccessBlock answers it)

    @property
    def acls_enabled(self) -> bool:
        return acls.acls_enabled(self.ownership)

    @functools.cached_property
    def others_may_write(self) -> bool:
        """Whether anyone but the owner may have written objects here (a WRITE grant to
        someone else, or a policy that allows writes): only then can an object have
        another owner, and the owner's reads need to look at it."""
        if self.policy is not None and policies.may_allow_writes(
            self.policy, self.name, self.owner.id
        ):
            return True
        return any(
            g.grants(acls.Permission.WRITE) and g.id != self.owner.id for g in self.acl.grants
        )

    def policy_is_public(self) -> bool:
        return policies.is_public(self.policy, self.name)


def view(cfg: BucketConfig, bootstrap_user: str, display_name: Callable[[str], str]) -> BucketView:
    owner_id = cfg.owner or bootstrap_user
    owner = acls.Owner(owner_id, display_name(owner_id))
    acl = acls.Acl.from_dict(cfg.acl) if cfg.acl is not None else acls.private(owner)
    pab = PublicAccessBlock.from_dict(cfg.pab) if cfg.pab is not None else NO_BLOCK
    return BucketView(cfg.name, owner, acl, cfg.policy, cfg.ownership, pab, cfg.pab is not None)


def resource_arn(bucket: str, key: str | None, on_object: bool) -> str:
    return (
        f"arn:aws:s3:::{bucket}/{key}"
        if on_object and key is not None
        else f"arn:aws:s3:::{bucket}"
    )


async def authorize(
    caller: Caller,
    need: Need,
    bucket: BucketView,
    key: str | None,
    context: Mapping[str, Sequence[str]],
    load_object: ObjectLoader,
    bootstrap_user: str,
    load_initiator: InitiatorLoader | None = None,
) -> None:
    """Return when the caller may; raise AccessDenied otherwise."""
    if not caller.anonymous and need.right not in caller.rights(bucket.name):
        raise AccessDenied()
    is_owner = caller.user_id == bucket.owner.id
    # The owner is served unless a Deny says otherwise: its Allows are read only if needed.
    verdict = _policy(caller, need, bucket, key, context, denies_only=is_owner)
    if verdict == "Deny" and not (is_owner and need.action in OWNER_ALWAYS):
        raise AccessDenied()
    if caller.names(bucket.name):
        return  # the administrator's grant to this key (it holds the right: step 1)
    if is_owner:
        if await _owner_may(caller, need, bucket, load_object, bootstrap_user):
            return
    elif verdict == "Allow" and policy_allow_counts(
        bucket.pab, bucket.policy_is_public(), caller.user_id, bucket.owner.id
    ):
        return
    if await _acl_allows(caller, need, bucket, load_object, bootstrap_user):
        return
    if is_owner and _policy(caller, need, bucket, key, context) == "Allow":
        return
    # No such object: a caller that may list the bucket (there) learns NoSuchKey from the
    # handler, anyone else AccessDenied, as S3 answers.
    if (
        need.action == "s3:GetObject"
        and key is not None
        and await load_object() is None
        and _may_list(caller, bucket, {**context, "s3:prefix": [key]})
    ):
        return
    # AWS: whoever started a multipart upload may list its parts and abort it.
    if (
        need.action in INITIATOR_ACTIONS
        and load_initiator is not None
        and caller.user_id is not None
        and await load_initiator() == caller.user_id
    ):
        return
    raise AccessDenied()


def _may_list(caller: Caller, bucket: BucketView, context: Mapping[str, Sequence[str]]) -> bool:
    if caller.user_id == bucket.owner.id:
        return True
    verdict = _policy(caller, LIST_BUCKET, bucket, None, context)
    if verdict == "Deny":
        return False
    if verdict == "Allow" and policy_allow_counts(
        bucket.pab, bucket.policy_is_public(), caller.user_id, bucket.owner.id
    ):
        return True
    return bucket.acls_enabled and acl_allows(
        bucket.pab, bucket.acl, caller.user_id, acls.Permission.READ
    )


def _policy(
    caller: Caller,
    need: Need,
    bucket: BucketView,
    key: str | None,
    context: Mapping[str, Sequence[str]],
    *,
    denies_only: bool = False,
) -> str | None:
    if bucket.policy is None:
        return None
    arn = resource_arn(bucket.name, key, need.on_object)
    return policies.evaluate(
        bucket.policy,
        bucket.name,
        need.action,
        arn,
        caller.user_id,
        caller.display_name,
        context,
        denies_only=denies_only,
    )


async def _owner_may(
    caller: Caller,
    need: Need,
    bucket: BucketView,
    load_object: ObjectLoader,
    bootstrap_user: str,
) -> bool:
    """The bucket owner may do everything, except read an object another user owns (or
    its ACL) when ACLs are enabled and somebody else could have written into the bucket."""
    if acls.permission_for(need.action, on_object=True) is None or not bucket.acls_enabled:
        return True
    if not bucket.others_may_write:
        return True
    obj = await load_object()
    return obj is None or (obj.owner or bootstrap_user) == caller.user_id


async def _acl_allows(
    caller: Caller,
    need: Need,
    bucket: BucketView,
    load_object: ObjectLoader,
    bootstrap_user: str,
) -> bool:
    if not bucket.acls_enabled:
        return False
    object_permission = acls.permission_for(need.action, on_object=True)
    if object_permission is not None:
        obj = await load_object()
        if obj is None:
            return False  # authorize() asks whether the caller may list the bucket
        owner_id = obj.owner or bootstrap_user
        if owner_id == caller.user_id:
            return True
        obj_acl = (
            acls.Acl.from_dict(obj.acl)
            if obj.acl is not None
            else acls.private(acls.Owner(owner_id))
        )
        return acl_allows(bucket.pab, obj_acl, caller.user_id, object_permission)
    bucket_permission = acls.permission_for(need.action, on_object=False)
    if bucket_permission is None:
        return False
    return acl_allows(bucket.pab, bucket.acl, caller.user_id, bucket_permission)
