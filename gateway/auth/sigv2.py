"""AWS Signature Version 2 (HMAC-SHA1) maths for S3: string to sign and signature.

Request path step: authentication, legacy flavour. botocore still signs S3 presigned URLs
(``generate_presigned_url``, ``aws s3 presign``) with SigV2 unless configured for s3v4, and
older tools send ``Authorization: AWS AKID:sig``. Pure functions only; the parsing and the
error decisions live in ``gateway.auth.verify``.

StringToSign = VERB \\n Content-MD5 \\n Content-Type \\n Date-or-Expires \\n
               CanonicalizedAmzHeaders CanonicalizedResource
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import product
from urllib.parse import unquote

from gateway.auth.sigv4 import wire_bytes

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Sub-resources that AWS's SigV2 documentation lists for the CanonicalizedResource.
AWS_SUBRESOURCES = frozenset(
    {
        "acl",
        "delete",
        "lifecycle",
        "location",
        "logging",
        "notification",
        "partNumber",
        "policy",
        "requestPayment",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
    }
)
# botocore's HmacV1Auth.QSAOfInterest adds these; botocore is the client we meet most, so
# its set is tried first and AWS's documented set second (see verify.py).
BOTOCORE_SUBRESOURCES = AWS_SUBRESOURCES | frozenset(
    {
        "accelerate",
        "cors",
        "defaultObjectAcl",
        "restore",
        "storageClass",
        "replication",
        "analytics",
        "metrics",
        "inventory",
        "select",
        "select-type",
        "object-lock",
    }
)


def canonical_amz_headers(amz_headers: Mapping[str, str]) -> str:
    """'name:value\\n' for every x-amz-* header, names lower-cased and sorted.

    Repeated headers are expected already joined with ','; each value is trimmed.
    """
    items = sorted(
        (name.lower(), value.strip())
        for name, value in amz_headers.items()
        if name.lower().startswith("x-amz-")
    )
    return "".join(f"{name}:{value}\n" for name, value in items)


def canonical_resource(raw_path: str, raw_query: str, subresources: Iterable[str]) -> str:
    """Path as sent, plus '?' and the signed sub-resources sorted by name, values decoded.

    Only path-style addressing is derived here: for virtual-hosted requests the caller must
    pass the path with the bucket prefixed, as AWS requires.
    """
    wanted = frozenset(subresources)
    picked = []
    for part in raw_query.split("&"):
        name, sep, value = part.partition("=")
        if name in wanted:
            # AWS: sub-resource values are signed un-encoded. Decoded byte for byte
            # (latin-1), so that the string to sign keeps the bytes the client signed.
            picked.append((name, f"{name}={unquote(value, 'latin-1')}" if sep else name))
    # Stable sort on the name only, as botocore does, so repeats keep their order.
    picked.sort(key=lambda item: item[0])
    resource = raw_path or "/"
    if picked:
        resource += "?" + "&".join(text for _, text in picked)
    return resource


def resource_path_candidates(path: str) -> list[str]:
    """The paths a client may have signed for ``path``, most likely first.

    botocore signs a bucket-only request ("/bucket") as "/bucket/", the form AWS's SigV2
    documentation gives for a bucket's CanonicalizedResource, while sending "/bucket".
    Both name the same bucket, so accepting either grants nothing extra.
    """
    candidates = [path]
    if len(path) > 1 and path.count("/") == 1:
        candidates.append(path + "/")
    return candidates


def string_to_sign(
    method: str,
    content_md5: str,
    content_type: str,
    date: str,
    amz_headers: Mapping[str, str],
    resource: str,
) -> str:
    return (
        f"{method.upper()}\n{content_md5.strip()}\n{content_type.strip()}\n{date.strip()}\n"
        f"{canonical_amz_headers(amz_headers)}{resource}"
    )


def signature(secret: str, string_to_sign_text: str) -> str:
    """base64(HMAC-SHA1(secret, StringToSign)), over the string's wire bytes (wire_bytes)."""
    mac = hmac.new(secret.encode("utf-8"), wire_bytes(string_to_sign_text), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def check_signature(
    secret: str,
    provided: str,
    *,
    method: str,
    path: str,
    raw_query: str,
    fields: Mapping[str, str],
    dates: Sequence[str],
) -> str | None:
    """Compare ``provided`` with the signature of each plausible string to sign.

    Candidates: botocore's and AWS's sub-resource sets, and each Date line in ``dates``.
    ``fields`` holds the lower-cased signed headers (content-md5, content-type, x-amz-*).
    None when one matches (constant-time compare); else the first string to sign.
    """
    resources = dict.fromkeys(
        canonical_resource(candidate, raw_query, subs)
        for candidate in resource_path_candidates(path)
        for subs in (BOTOCORE_SUBRESOURCES, AWS_SUBRESOURCES)
    )
    first: str | None = None
    for date, resource in product(dict.fromkeys(dates), resources):
        sts = string_to_sign(
            method,
            fields.get("content-md5", ""),
            fields.get("content-type", ""),
            date,
            fields,
            resource,
        )
        expected = signature(secret, sts)
        if hmac.compare_digest(expected.encode(), provided.encode("utf-8", "surrogatepass")):
            return None
        first = first or sts
    return first


def parse_http_date(text: str) -> datetime | None:
    """An RFC 1123 / 2822 date (Date header, x-amz-date in SigV2) as aware UTC, or None.

    A date before the Unix epoch is None too: AWS answers it as an invalid date
    (AccessDenied), not as a skewed clock, since no request can have been signed then.
    """
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when if when >= _EPOCH else None
