"""The AccessControlPolicy document: GetBucketAcl/GetObjectAcl out, PutBucketAcl/PutObjectAcl in.

A grantee carries its kind as an ``xsi:type`` attribute (CanonicalUser, Group,
AmazonCustomerByEmail). DisplayName: AWS shows it for the Owner and for CanonicalUser
grantees, never for groups, and ignores one sent in a request body (the name of the
resolved user is what is kept). AWS stopped returning display names in some regions in
2025; ``display_names=False`` renders that way. A request body's errors are AWS's:
MalformedACLError for XML that does not parse or fit the schema, InvalidArgument for a
grantee id or group that does not exist, UnresolvableGrantByEmailAddress for an unknown
email, AccessDenied for an Owner that is not the resource's owner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.authz.acl import (
    Acl,
    Grant,
    GranteeType,
    Owner,
    Permission,
    Resolver,
    from_headers,
    has_acl_headers,
    resolve_grantee,
)
from gateway.errors import AccessDenied, MalformedACLError, MalformedXML, UnexpectedContent
from gateway.wire.xml import as_list, document, el, parse

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_GRANTS = 100  # AWS: an ACL holds at most 100 grants


# ---------------------------------------------------------------------------------------------
# Rendering


def render(acl: Acl, *, display_names: bool = True) -> bytes:
    """The AccessControlPolicy document of an ACL."""
    grants = "".join(_grant_xml(g, display_names) for g in display_order(acl.grants))
    return document(
        "AccessControlPolicy",
        [
            _owner_xml(acl.owner, display_names),
            "<AccessControlList>",
            grants,
            "</AccessControlList>",
        ],
    )


def display_order(grants: Sequence[Grant]) -> list[Grant]:
    """Group grants first, then the users', each in the order they were set.

    AWS documents no order and clients read the list as a set; one fixed order keeps
    GetBucketAcl's answer the same however an equal ACL was set (canned, headers, body).
    """
    return sorted(grants, key=lambda g: g.type is not GranteeType.GROUP)


def _owner_xml(owner: Owner, display_names: bool) -> str:
    name = el("DisplayName", owner.display_name) if display_names and owner.display_name else ""
    return "<Owner>" + el("ID", owner.id) + name + "</Owner>"


def _grant_xml(grant: Grant, display_names: bool) -> str:
    return (
        "<Grant>"
        + f'<Grantee xmlns:xsi="{XSI_NS}" xsi:type="{grant.type.value}">'
        + _grantee_body(grant, display_names)
        + "</Grantee>"
        + el("Permission", grant.permission.value)
        + "</Grant>"
    )


def _grantee_body(grant: Grant, display_names: bool) -> str:
    if grant.type is GranteeType.GROUP:
        return el("URI", grant.uri or "")
    if grant.type is GranteeType.EMAIL:
        return el("EmailAddress", grant.email or "")
    name = el("DisplayName", grant.display_name) if display_names and grant.display_name else ""
    return el("ID", grant.id or "") + name


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_policy(body: bytes, owner: Owner, resolve_id: Resolver, resolve_email: Resolver) -> Acl:
    """The ACL a PutBucketAcl/PutObjectAcl body sets on a resource that ``owner`` owns.

    The Owner element must name the resource's owner: an ACL cannot give a resource away
    (AccessDenied, as AWS). Grantees are resolved: ids and emails to known users (with
    their display names), group URIs to the three groups.
    """
    doc = _parse_document(body)
    stated = _owner_id(doc.get("Owner"))
    if stated != owner.id:
        raise AccessDenied()
    entries = _grant_entries(doc.get("AccessControlList"))
    grants = tuple(_grant(entry, resolve_id, resolve_email) for entry in entries)
    return Acl(owner, grants)


def acl_from_request(
    headers: Mapping[str, str],
    body: bytes,
    owner: Owner,
    resolve_id: Resolver,
    resolve_email: Resolver,
    bucket_owner: Owner | None = None,
) -> Acl:
    """PutBucketAcl/PutObjectAcl: the ACL from the headers (canned or grants) or the body.

    Both at once is refused (UnexpectedContent: the headers already say it all); neither
    is an empty document, MalformedACLError."""
    if has_acl_headers(headers):
        if body.strip():
            raise UnexpectedContent()
        acl = from_headers(headers, owner, resolve_id, resolve_email, bucket_owner)
        assert acl is not None  # has_acl_headers said there is one
        return acl
    if not body.strip():
        raise MalformedACLError()
    return parse_policy(body, owner, resolve_id, resolve_email)


def _parse_document(body: bytes) -> dict[str, Any]:
    try:
        return parse(body, "AccessControlPolicy")
    except MalformedXML:
        raise MalformedACLError() from None


def _owner_id(value: Any) -> str:
    if not isinstance(value, dict):
        raise MalformedACLError()
    ident = _child(value, "ID")
    if not isinstance(ident, str) or not ident.strip():
        raise MalformedACLError()
    return ident.strip()


def _grant_entries(value: Any) -> list[Any]:
    """The Grant elements of an AccessControlList (empty: the ACL grants nothing)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        raise MalformedACLError()
    unknown = [k for k in value if not k.startswith("@") and _local(k) != "Grant"]
    if unknown:
        raise MalformedACLError()
    grants = as_list(_child(value, "Grant"))
    if len(grants) > MAX_GRANTS:
        raise MalformedACLError("The request contains more than the maximum of 100 grants.")
    return grants


def _grant(entry: Any, resolve_id: Resolver, resolve_email: Resolver) -> Grant:
    if not isinstance(entry, dict):
        raise MalformedACLError()
    permission = _permission(_child(entry, "Permission"))
    grantee = _child(entry, "Grantee")
    if not isinstance(grantee, dict):
        raise MalformedACLError()
    kind = _grantee_type(grantee)
    field = {"CanonicalUser": "ID", "Group": "URI", "AmazonCustomerByEmail": "EmailAddress"}[kind]
    value = _child(grantee, field)
    if not isinstance(value, str) or not value.strip():
        raise MalformedACLError()
    header_kind = {"ID": "id", "URI": "uri", "EmailAddress": "emailAddress"}[field]
    return resolve_grantee(header_kind, value.strip(), permission, resolve_id, resolve_email)


def _permission(value: Any) -> Permission:
    if not isinstance(value, str):
        raise MalformedACLError()
    try:
        return Permission(value.strip())
    except ValueError:
        raise MalformedACLError() from None


def _grantee_type(grantee: dict[str, Any]) -> str:
    """The xsi:type of a Grantee: required, one of the three kinds (schema: else malformed)."""
    types = [v for k, v in grantee.items() if k.startswith("@") and _local(k) == "type"]
    if len(types) != 1 or types[0] not in {t.value for t in GranteeType}:
        raise MalformedACLError()
    return str(types[0])


def _child(parent: dict[str, Any], name: str) -> Any:
    """A child element by local name (xmltodict keeps namespace prefixes below the root).

    A text element that carries attributes (AWS's own example writes ``<URI xmlns="">``)
    comes out of xmltodict as {"@xmlns": ..., "#text": ...}: its text is returned."""
    for key, value in parent.items():
        if not key.startswith("@") and _local(key) == name:
            return _unwrap_text(value)
    return None


def _unwrap_text(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    children = [k for k in value if not k.startswith("@")]
    if children == ["#text"]:
        return value["#text"]
    if not children:
        return ""
    return value


def _local(key: str) -> str:
    return key.lstrip("@").rsplit(":", 1)[-1]
