"""Server-side encryption on the wire, pure: the ServerSideEncryptionConfiguration document
(Put/GetBucketEncryption) and the x-amz-server-side-encryption* response headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidArgument, MalformedXML
from gateway.wire.xml import as_list, document, el, opt, parse

SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
SSE_C = "SSE-C"
_RULE_FIELDS = {"ApplyServerSideEncryptionByDefault", "BucketKeyEnabled"}


def parse_configuration(body: bytes) -> dict[str, Any]:
    """PutBucketEncryption's body as the stored default ({"m", "kms", "bk"})."""
    doc = parse(body, "ServerSideEncryptionConfiguration")
    if set(doc) != {"Rule"}:
        raise MalformedXML()
    rules = as_list(doc["Rule"])
    if len(rules) != 1 or not isinstance(rules[0], dict) or not set(rules[0]) <= _RULE_FIELDS:
        raise MalformedXML()
    rule = rules[0]
    default = rule.get("ApplyServerSideEncryptionByDefault")
    if not isinstance(default, dict) or not set(default) <= {"SSEAlgorithm", "KMSMasterKeyID"}:
        raise MalformedXML()
    algorithm = default.get("SSEAlgorithm")
    if algorithm not in (SSE_S3, SSE_KMS):
        raise MalformedXML()
    kms = default.get("KMSMasterKeyID")
    if kms is not None and algorithm != SSE_KMS:
        raise InvalidArgument(
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms",
            ArgumentName="ApplyServerSideEncryptionByDefault",
        )
    out: dict[str, Any] = {"m": algorithm}
    if kms:
        out["kms"] = str(kms)
    bucket_key = str(rule.get("BucketKeyEnabled", "false")).lower()
    if bucket_key not in ("true", "false"):
        raise MalformedXML()
    out["bk"] = bucket_key == "true"
    return out


def render_configuration(default: Mapping[str, Any]) -> bytes:
    """GetBucketEncryption's answer."""
    inner = el("SSEAlgorithm", default["m"]) + opt("KMSMasterKeyID", default.get("kms"))
    rule = (
        "<Rule><ApplyServerSideEncryptionByDefault>"
        + inner
        + "</ApplyServerSideEncryptionByDefault>"
        + el("BucketKeyEnabled", "true" if default.get("bk") else "false")
        + "</Rule>"
    )
    return document("ServerSideEncryptionConfiguration", [rule])


def response_headers(
    record: Mapping[str, Any] | None, customer_key_md5: str = ""
) -> dict[str, str]:
    """What a response about a version (or upload) in this encryption says of it."""
    if not record:
        return {}
    mode = record["m"]
    if mode == SSE_C:
        out = {"x-amz-server-side-encryption-customer-algorithm": "AES256"}
        if customer_key_md5:
            out["x-amz-server-side-encryption-customer-key-md5"] = customer_key_md5
        return out
    out = {"x-amz-server-side-encryption": mode}
    if mode == SSE_KMS:
        out["x-amz-server-side-encryption-aws-kms-key-id"] = str(record.get("kms", ""))
        if record.get("bk"):
            out["x-amz-server-side-encryption-bucket-key-enabled"] = "true"
    return out
