"""Who owns what a request writes, and with which ACL: the rules of Object Ownership,
canned ACLs and grant headers, and BlockPublicAcls, applied to PutObject, CopyObject,
CreateMultipartUpload (kept with the upload, applied at Complete) and CreateBucket.

Refusals here are about the request's ACL, not about access (the authorization step has
decided that already): AccessControlListNotSupported under BucketOwnerEnforced, AccessDenied
for a public ACL under BlockPublicAcls, InvalidArgument for an unknown grantee.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.authz import acl as acls
from gateway.authz.public import check_acl_write
from gateway.authz.step import Access
from gateway.objects.types import BucketConfig, ObjectAttrs
from gateway.wire.bucket_config import ownership_header

# The ObjectOwnership of a bucket created without x-amz-object-ownership (see
# docs/access-control.md): ObjectWriter, ACLs enabled, as the Ceph suite's ACL tests expect
# of a new bucket and as AWS did before April 2023. None stored: GetBucketOwnershipControls
# answers OwnershipControlsNotFoundError, as for such a bucket on AWS.
DEFAULT_OWNERSHIP: str | None = None


def new_bucket(access: Access, name: str, headers: Mapping[str, str]) -> BucketConfig:
    """A new bucket's owner (the caller), Object Ownership (x-amz-object-ownership) and
    ACL (x-amz-acl or grant headers)."""
    caller = access.caller
    assert caller.user_id is not None  # the authorization step refuses anonymous creates
    owner = acls.Owner(caller.user_id, access.display_name(caller.user_id))
    ownership = ownership_header(headers.get("x-amz-object-ownership")) or DEFAULT_OWNERSHIP
    acl = acls.from_headers(headers, owner, access.resolve_id, access.resolve_email)
    if acl is not None and ownership is not None:
        acls.check_enforce_allowed(ownership, acl)
    return BucketConfig(name, owner.id, acl.to_dict() if acl else None, None, ownership, None)


def same_bucket(existing: BucketConfig, wanted: BucketConfig, bootstrap_user: str) -> bool:
    """Whether a repeated CreateBucket asks for the bucket that exists: the same owner and
    the same ACL (none given is the owner's FULL_CONTROL)."""
    owner = existing.owner or bootstrap_user
    if owner != wanted.owner:
        return False
    private = acls.private(acls.Owner(owner)).to_dict()["g"]
    have = (existing.acl or {}).get("g", private)
    want = (wanted.acl or {}).get("g", private)
    return sorted(tuple(g[:3]) for g in have) == sorted(tuple(g[:3]) for g in want)


def _sets_acl(headers: Mapping[str, str]) -> bool:
    """x-amz-acl or an x-amz-grant-* header (the gateway's header names are lower-case)."""
    return "x-amz-acl" in headers or any(h.startswith("x-amz-grant-") for h in headers)


def new_object(access: Access, headers: Mapping[str, str], attrs: ObjectAttrs) -> ObjectAttrs:
    """``attrs`` with the new version's owner and ACL set."""
    bucket = access.bucket
    if bucket is None:  # no such bucket: the write fails on it anyway
        return attrs
    caller = access.caller
    if not _sets_acl(headers) and bucket.ownership != acls.BUCKET_OWNER_ENFORCED:
        # The common case, kept cheap: the writer owns a private object.
        attrs.owner = caller.user_id or bucket.owner.id
        return attrs
    acls.check_acl_on_write(bucket.ownership, headers, bucket.owner)
    writer = (
        acls.Owner(caller.user_id, access.display_name(caller.user_id))
        if caller.user_id is not None
        else bucket.owner
    )
    owner = acls.object_owner(bucket.ownership, writer, bucket.owner, acls.canned_name(headers))
    acl = None
    if bucket.acls_enabled:
        acl = acls.from_headers(
            headers, owner, access.resolve_id, access.resolve_email, bucket.owner
        )
        check_acl_write(bucket.pab, acl)
    attrs.owner = owner.id
    attrs.acl = acl.to_dict() if acl is not None else None
    return attrs
