"""Wire format of three small bucket configurations: OwnershipControls,
PublicAccessBlockConfiguration and PolicyStatus.

A body that does not parse, or does not fit AWS's schema (a missing or unknown element, a
value outside the enumeration, a boolean that is not true/false), is MalformedXML, as AWS
answers these Put operations.
"""

from __future__ import annotations

from typing import Any

from gateway.authz.acl import OBJECT_OWNERSHIP
from gateway.authz.public import PublicAccessBlock
from gateway.errors import InvalidArgument, MalformedXML
from gateway.wire.xml import as_list, bool_text, document, el, parse

# ---------------------------------------------------------------------------------------------
# OwnershipControls


def render_ownership(ownership: str) -> bytes:
    """GetBucketOwnershipControls: one rule with the bucket's ObjectOwnership."""
    return document("OwnershipControls", ["<Rule>", el("ObjectOwnership", ownership), "</Rule>"])


def parse_ownership(body: bytes) -> str:
    """PutBucketOwnershipControls: exactly one Rule with a known ObjectOwnership."""
    doc = parse(body, "OwnershipControls")
    if set(doc) != {"Rule"}:
        raise MalformedXML()
    rules = as_list(doc["Rule"])
    if len(rules) != 1 or not isinstance(rules[0], dict) or set(rules[0]) != {"ObjectOwnership"}:
        raise MalformedXML()
    value = rules[0]["ObjectOwnership"]
    if value not in OBJECT_OWNERSHIP:
        raise MalformedXML()
    return str(value)


def ownership_header(value: str | None) -> str | None:
    """CreateBucket's x-amz-object-ownership header: None when absent, InvalidArgument
    when not one of the three settings."""
    if value is None:
        return None
    if value not in OBJECT_OWNERSHIP:
        raise InvalidArgument(
            "Invalid x-amz-object-ownership header",
            ArgumentName="x-amz-object-ownership",
            ArgumentValue=value,
        )
    return value


# ---------------------------------------------------------------------------------------------
# PublicAccessBlockConfiguration

_PAB_FIELDS = {
    "BlockPublicAcls": "block_public_acls",
    "IgnorePublicAcls": "ignore_public_acls",
    "BlockPublicPolicy": "block_public_policy",
    "RestrictPublicBuckets": "restrict_public_buckets",
}


def render_public_access_block(pab: PublicAccessBlock) -> bytes:
    """GetPublicAccessBlock: all four settings, always."""
    return document(
        "PublicAccessBlockConfiguration",
        [el(name, bool_text(getattr(pab, attr))) for name, attr in _PAB_FIELDS.items()],
    )


def parse_public_access_block(body: bytes) -> PublicAccessBlock:
    """PutPublicAccessBlock: any of the four booleans; a missing one is false."""
    doc = parse(body, "PublicAccessBlockConfiguration")
    if not set(doc) <= set(_PAB_FIELDS):
        raise MalformedXML()
    values = {_PAB_FIELDS[name]: _boolean(value) for name, value in doc.items()}
    return PublicAccessBlock(**values)


def _boolean(value: Any) -> bool:
    if not isinstance(value, str) or value.strip().lower() not in ("true", "false"):
        raise MalformedXML()
    return value.strip().lower() == "true"


# ---------------------------------------------------------------------------------------------
# PolicyStatus


def render_policy_status(is_public: bool) -> bytes:
    """GetBucketPolicyStatus."""
    return document("PolicyStatus", [el("IsPublic", bool_text(is_public))])
