"""S3 access control lists: the model, the canned ACLs, the grant headers, and what they allow.

Pure: no storage, no HTTP. The gateway stores an ``Acl`` as ``to_dict()`` (msgpack-friendly
lists and strings), builds one from a request's headers (``from_headers``) or body
(``gateway.wire.acl``), and asks ``allows()`` whether a caller holds a permission.
Who a grantee is (a known user id, an email address) is the caller's to resolve: it
passes the resolvers in, so this module never touches the key ring.

AWS's semantics, in short: a grant gives one permission to one grantee; FULL_CONTROL
implies the other four; the AllUsers group is everyone (anonymous included), the
AuthenticatedUsers group is every signed caller; the owner may always read and write the
ACL itself, even when no grant says so. An email grant is resolved to the canonical user
when the ACL is set, as AWS does, so a stored ACL holds only users and groups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.errors import (
    AccessControlListNotSupported,
    InvalidArgument,
    InvalidBucketAclWithObjectOwnership,
    InvalidRequest,
    UnresolvableGrantByEmailAddress,
)


class Permission(StrEnum):
    READ = "READ"
    WRITE = "WRITE"
    READ_ACP = "READ_ACP"
    WRITE_ACP = "WRITE_ACP"
    FULL_CONTROL = "FULL_CONTROL"


class GranteeType(StrEnum):
    CANONICAL_USER = "CanonicalUser"
    GROUP = "Group"
    EMAIL = "AmazonCustomerByEmail"


ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUP_URIS = frozenset({ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY})
# AWS's definition of a public ACL: any grant to either of these groups.
PUBLIC_GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS})

# A resolver answers (canonical id, display name) for a known user, None otherwise:
# KeyRing.user and KeyRing.user_by_email have this shape.
Resolver = Callable[[str], "tuple[str, str] | None"]


@dataclass(frozen=True)
class Owner:
    id: str
    display_name: str = ""


@dataclass(frozen=True)
class Grant:
    """One permission for one grantee. ``id`` for a CanonicalUser, ``uri`` for a Group,
    ``email`` for AmazonCustomerByEmail (resolved away before an ACL is stored)."""

    type: GranteeType
    permission: Permission
    id: str | None = None
    uri: str | None = None
    email: str | None = None
    display_name: str | None = None

    @classmethod
    def user(cls, owner: Owner, permission: Permission) -> Grant:
        return cls(
            GranteeType.CANONICAL_USER, permission, id=owner.id, display_name=owner.display_name
        )

    @classmethod
    def group(cls, uri: str, permission: Permission) -> Grant:
        return cls(GranteeType.GROUP, permission, uri=uri)

    def matches(self, user_id: str | None) -> bool:
        """Whether this grant's grantee is the caller (None: anonymous)."""
        if self.type is GranteeType.CANONICAL_USER:
            return user_id is not None and self.id == user_id
        if self.type is GranteeType.GROUP:
            return self.uri == ALL_USERS or (
                self.uri == AUTHENTICATED_USERS and user_id is not None
            )
        return False  # email grants are resolved before storage; LogDelivery is no caller here

    def grants(self, permission: Permission) -> bool:
        return self.permission is Permission.FULL_CONTROL or self.permission is permission

    @property
    def is_public(self) -> bool:
        return self.type is GranteeType.GROUP and self.uri in PUBLIC_GROUPS


@dataclass(frozen=True)
class Acl:
    owner: Owner
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Compact, msgpack-friendly: {"o": id, "n": name, "g": [[type, perm, value, name?]]}."""
        return {
            "o": self.owner.id,
            "n": self.owner.display_name,
            "g": [_grant_row(g) for g in self.grants],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Acl:
        owner = Owner(str(data["o"]), str(data.get("n", "")))
        return cls(owner, tuple(_grant_from_row(row) for row in data.get("g", ())))


_TYPE_CODES = {GranteeType.CANONICAL_USER: "u", GranteeType.GROUP: "g", GranteeType.EMAIL: "e"}
_CODE_TYPES = {code: kind for kind, code in _TYPE_CODES.items()}


def _grant_row(g: Grant) -> list[str]:
    value = {GranteeType.CANONICAL_USER: g.id, GranteeType.GROUP: g.uri}.get(g.type, g.email)
    row = [_TYPE_CODES[g.type], g.permission.value, value or ""]
    if g.display_name is not None:
        row.append(g.display_name)
    return row


def _grant_from_row(row: Sequence[str]) -> Grant:
    kind = _CODE_TYPES[row[0]]
    permission = Permission(row[1])
    name = row[3] if len(row) > 3 else None
    if kind is GranteeType.CANONICAL_USER:
        return Grant(kind, permission, id=row[2], display_name=name)
    if kind is GranteeType.GROUP:
        return Grant(kind, permission, uri=row[2])
    return Grant(kind, permission, email=row[2], display_name=name)


# ---------------------------------------------------------------------------------------------
# Canned ACLs (AWS, "Canned ACL" in the access control list overview)

CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "aws-exec-read",
    "authenticated-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
)
BUCKET_OWNER_FULL_CONTROL = "bucket-owner-full-control"


def canned(name: str, owner: Owner, bucket_owner: Owner | None = None) -> Acl:
    """The ACL a canned name stands for, as AWS expands it.

    ``bucket_owner`` is given for an object: bucket-owner-read and bucket-owner-full-control
    add a grant to it. On a bucket (no ``bucket_owner``) AWS ignores those two, leaving the
    owner's FULL_CONTROL alone, and so do we when the object's owner owns the bucket.
    aws-exec-read gives Amazon EC2 READ to fetch AMI bundles; there is no EC2 here, so it
    is the owner's FULL_CONTROL alone. An unknown name is InvalidArgument, as AWS answers.
    """
    if name not in CANNED_ACLS:
        raise InvalidArgument(ArgumentName="x-amz-acl", ArgumentValue=name)
    grants = [Grant.user(owner, Permission.FULL_CONTROL)]
    grants += _canned_extra(name, owner, bucket_owner)
    return Acl(owner, tuple(grants))


def _canned_extra(name: str, owner: Owner, bucket_owner: Owner | None) -> list[Grant]:
    """The grants a canned ACL adds to the owner's FULL_CONTROL."""
    if name == "public-read":
        return [Grant.group(ALL_USERS, Permission.READ)]
    if name == "public-read-write":
        return [Grant.group(ALL_USERS, Permission.READ), Grant.group(ALL_USERS, Permission.WRITE)]
    if name == "authenticated-read":
        return [Grant.group(AUTHENTICATED_USERS, Permission.READ)]
    if name == "log-delivery-write":
        return [
            Grant.group(LOG_DELIVERY, Permission.WRITE),
            Grant.group(LOG_DELIVERY, Permission.READ_ACP),
        ]
    if name in ("bucket-owner-read", BUCKET_OWNER_FULL_CONTROL):
        if bucket_owner is None or bucket_owner.id == owner.id:
            return []
        perm = Permission.READ if name == "bucket-owner-read" else Permission.FULL_CONTROL
        return [Grant.user(bucket_owner, perm)]
    return []  # private, aws-exec-read


def private(owner: Owner) -> Acl:
    """The default ACL of every new bucket and object: the owner's FULL_CONTROL."""
    return canned("private", owner)


# ---------------------------------------------------------------------------------------------
# x-amz-acl and x-amz-grant-* request headers

GRANT_HEADERS: dict[str, Permission] = {
    "x-amz-grant-read": Permission.READ,
    "x-amz-grant-write": Permission.WRITE,
    "x-amz-grant-read-acp": Permission.READ_ACP,
    "x-amz-grant-write-acp": Permission.WRITE_ACP,
    "x-amz-grant-full-control": Permission.FULL_CONTROL,
}
# One grantee of a grant header: id="...", emailAddress="...", uri="..." (quotes optional).
_GRANTEE = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,"\s]+))\s*(?:,|$)')


def has_acl_headers(headers: Mapping[str, str]) -> bool:
    """Whether a request sets an ACL through its headers (canned or grants)."""
    lowered = {k.lower() for k in headers}
    return "x-amz-acl" in lowered or any(h in lowered for h in GRANT_HEADERS)


def canned_name(headers: Mapping[str, str]) -> str | None:
    """The x-amz-acl value, if any (for the ownership rules and s3:x-amz-acl)."""
    return {k.lower(): v for k, v in headers.items()}.get("x-amz-acl")


def from_headers(
    headers: Mapping[str, str],
    owner: Owner,
    resolve_id: Resolver,
    resolve_email: Resolver,
    bucket_owner: Owner | None = None,
) -> Acl | None:
    """The ACL a request's headers set, or None when they set none (the caller's default).

    Grant headers make the whole ACL, exactly as listed: the owner gets no implicit grant
    (AWS; the owner keeps READ_ACP and WRITE_ACP by ownership). Both a canned ACL and grant
    headers is InvalidRequest; a malformed grantee list or an unknown id or group is
    InvalidArgument; an unknown email is UnresolvableGrantByEmailAddress.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    grant_values = [(h, lowered[h]) for h in GRANT_HEADERS if h in lowered]
    name = lowered.get("x-amz-acl")
    if name is not None and grant_values:
        raise InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed")
    if name is not None:
        return canned(name.strip(), owner, bucket_owner)
    if not grant_values:
        return None
    grants: list[Grant] = []
    for header, value in grant_values:
        for kind, ident in _grantees(header, value):
            grants.append(
                resolve_grantee(kind, ident, GRANT_HEADERS[header], resolve_id, resolve_email)
            )
    return Acl(owner, tuple(grants))


def _grantees(header: str, value: str) -> list[tuple[str, str]]:
    """The (kind, value) pairs of one grant header; InvalidArgument when it does not parse."""
    found: list[tuple[str, str]] = []
    pos = 0
    text = value.strip()
    while pos < len(text):
        m = _GRANTEE.match(text, pos)
        if m is None or m.end() == pos or m.group(1).lower() not in _GRANTEE_KINDS:
            raise _format_not_recognized(header, value)
        found.append((m.group(1), m.group(2) if m.group(2) is not None else m.group(3)))
        pos = m.end()
    if not found:
        raise _format_not_recognized(header, value)
    return found


_GRANTEE_KINDS = frozenset({"id", "emailaddress", "uri"})


def _format_not_recognized(header: str, value: str) -> InvalidArgument:
    """AWS's answer to a grant header it cannot read, as observed: name and value echoed."""
    return InvalidArgument(
        "Argument format not recognized", ArgumentName=header, ArgumentValue=value
    )


def resolve_grantee(
    kind: str, ident: str, permission: Permission, resolve_id: Resolver, resolve_email: Resolver
) -> Grant:
    """One grant to a grantee named as a header or a body names it: ``kind`` is id,
    emailAddress or uri (header) — the body's xsi:type maps onto the same three.
    AWS's errors, as observed: InvalidArgument "Invalid id" / "Invalid group uri" with
    the kind as ArgumentName, UnresolvableGrantByEmailAddress for an unknown email."""
    key = kind.lower()
    if key == "id":
        user = resolve_id(ident)
        if user is None:
            raise InvalidArgument("Invalid id", ArgumentName="id", ArgumentValue=ident)
        return Grant.user(Owner(*user), permission)
    if key == "emailaddress":
        user = resolve_email(ident)
        if user is None:
            raise UnresolvableGrantByEmailAddress(EmailAddress=ident)
        return Grant.user(Owner(*user), permission)
    if key == "uri":
        if ident not in GROUP_URIS:
            raise InvalidArgument("Invalid group uri", ArgumentName="uri", ArgumentValue=ident)
        return Grant.group(ident, permission)
    raise _format_not_recognized(kind, ident)


# ---------------------------------------------------------------------------------------------
# Decisions


def allows(acl: Acl, user_id: str | None, permission: Permission) -> bool:
    """Whether the ACL gives ``permission`` to the caller (``user_id`` None: anonymous).

    The owner may always read and write the ACL itself (AWS: the resource owner has
    READ_ACP and WRITE_ACP whatever the grants say), so an owner who revoked every grant
    can still restore them.
    """
    if user_id is not None and user_id == acl.owner.id and permission in _OWNER_ALWAYS:
        return True
    return any(g.grants(permission) and g.matches(user_id) for g in acl.grants)


_OWNER_ALWAYS = frozenset({Permission.READ_ACP, Permission.WRITE_ACP})


def is_public(acl: Acl) -> bool:
    """AWS: an ACL is public when it grants anything to AllUsers or AuthenticatedUsers."""
    return any(g.is_public for g in acl.grants)


def without_public_grants(acl: Acl) -> Acl:
    """The ACL with its public grants dropped (IgnorePublicAcls decides on this)."""
    return Acl(acl.owner, tuple(g for g in acl.grants if not g.is_public))


def only_owner_full_control(acl: Acl) -> bool:
    """Whether the ACL gives nothing to anyone but its owner (BucketOwnerEnforced's
    precondition: such an ACL is what 'ACLs disabled' reads as)."""
    return all(g.type is GranteeType.CANONICAL_USER and g.id == acl.owner.id for g in acl.grants)


# ---------------------------------------------------------------------------------------------
# Which ACL permission grants an S3 action (AWS: "Mapping of ACL permissions and access
# policy permissions"). A bucket ACL decides bucket actions and the writes of objects into
# it; an object ACL decides reads of the object and its ACL. An action in neither table is
# granted by no ACL: only the owner (or a policy) may do it.

BUCKET_ACTION_PERMISSION: dict[str, Permission] = {
    "s3:ListBucket": Permission.READ,
    "s3:ListBucketVersions": Permission.READ,
    "s3:ListBucketMultipartUploads": Permission.READ,
    "s3:PutObject": Permission.WRITE,
    "s3:DeleteObject": Permission.WRITE,
    "s3:DeleteObjectVersion": Permission.WRITE,
    # Not in AWS's table, but part of writing an object in parts: whoever may write
    # objects into the bucket may abort the uploads there (as Ceph RGW decides).
    "s3:AbortMultipartUpload": Permission.WRITE,
    "s3:GetBucketAcl": Permission.READ_ACP,
    "s3:PutBucketAcl": Permission.WRITE_ACP,
}

OBJECT_ACTION_PERMISSION: dict[str, Permission] = {
    "s3:GetObject": Permission.READ,
    "s3:GetObjectVersion": Permission.READ,
    "s3:GetObjectTorrent": Permission.READ,
    "s3:GetObjectAcl": Permission.READ_ACP,
    "s3:GetObjectVersionAcl": Permission.READ_ACP,
    "s3:PutObjectAcl": Permission.WRITE_ACP,
    "s3:PutObjectVersionAcl": Permission.WRITE_ACP,
}


def permission_for(action: str, *, on_object: bool) -> Permission | None:
    """The ACL permission that grants ``action`` on a bucket's ACL (``on_object`` False)
    or an object's ACL (True); None when no ACL can grant it."""
    table = OBJECT_ACTION_PERMISSION if on_object else BUCKET_ACTION_PERMISSION
    return table.get(action)


# ---------------------------------------------------------------------------------------------
# Object Ownership (BucketOwnerEnforced, BucketOwnerPreferred, ObjectWriter)

BUCKET_OWNER_ENFORCED = "BucketOwnerEnforced"
BUCKET_OWNER_PREFERRED = "BucketOwnerPreferred"
OBJECT_WRITER = "ObjectWriter"
OBJECT_OWNERSHIP = (BUCKET_OWNER_ENFORCED, BUCKET_OWNER_PREFERRED, OBJECT_WRITER)


def acls_enabled(ownership: str | None) -> bool:
    """ACLs decide nothing when the bucket owner is enforced (AWS: 'ACLs disabled')."""
    return ownership != BUCKET_OWNER_ENFORCED


def check_acl_on_write(
    ownership: str | None, headers: Mapping[str, str], bucket_owner: Owner
) -> None:
    """PutObject, CopyObject, CreateMultipartUpload (and POST uploads) under BucketOwnerEnforced:
    no ACL, or bucket-owner-full-control, or grant headers equal to it; anything else is
    AccessControlListNotSupported (400)."""
    if ownership != BUCKET_OWNER_ENFORCED or not has_acl_headers(headers):
        return
    name = canned_name(headers)
    if name is not None and name.strip() == BUCKET_OWNER_FULL_CONTROL:
        return
    if name is None and _grants_only_full_control_to(headers, bucket_owner.id):
        return
    raise AccessControlListNotSupported()


def _grants_only_full_control_to(headers: Mapping[str, str], user_id: str) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    present = [h for h in GRANT_HEADERS if h in lowered]
    if present != ["x-amz-grant-full-control"]:
        return False
    try:
        pairs = _grantees("x-amz-grant-full-control", lowered["x-amz-grant-full-control"])
    except InvalidArgument:
        return False
    return pairs == [("id", user_id)]


def check_acl_put(ownership: str | None) -> None:
    """PutBucketAcl and PutObjectAcl: refused whatever the ACL once ACLs are disabled."""
    if ownership == BUCKET_OWNER_ENFORCED:
        raise AccessControlListNotSupported()


def check_enforce_allowed(ownership: str, bucket_acl: Acl) -> None:
    """Setting BucketOwnerEnforced (PutBucketOwnershipControls, or CreateBucket with
    x-amz-object-ownership) needs a bucket ACL that gives nothing to anyone else."""
    if ownership == BUCKET_OWNER_ENFORCED and not only_owner_full_control(bucket_acl):
        raise InvalidBucketAclWithObjectOwnership()


def object_owner(
    ownership: str | None, writer: Owner, bucket_owner: Owner, canned_acl: str | None
) -> Owner:
    """Who owns a newly written object: the bucket owner when enforced, or when preferred
    and the writer sent bucket-owner-full-control; the writer otherwise."""
    if ownership == BUCKET_OWNER_ENFORCED:
        return bucket_owner
    if ownership == BUCKET_OWNER_PREFERRED and canned_acl == BUCKET_OWNER_FULL_CONTROL:
        return bucket_owner
    return writer


def acl_for_reading(ownership: str | None, stored: Acl, bucket_owner: Owner) -> Acl:
    """What GetBucketAcl/GetObjectAcl show: with ACLs disabled, always the bucket owner's
    FULL_CONTROL (AWS), whatever was stored before."""
    if ownership == BUCKET_OWNER_ENFORCED:
        return private(bucket_owner)
    return stored
