"""Wire format of the bucket family: ListBuckets, CreateBucketConfiguration, location."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.wire.headers import iso_date
from gateway.wire.xml import document, el, opt, parse


class Bucket(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def created_ms(self) -> int: ...
    @property
    def region(self) -> str: ...


def list_buckets(
    buckets: Sequence[Bucket],
    owner_id: str,
    owner_name: str,
    *,
    paged: bool = False,
    prefix: str | None = None,
    continuation_token: str | None = None,
) -> bytes:
    """ListAllMyBucketsResult; ``paged`` adds each BucketRegion, as AWS does when the
    request had a paging parameter, and ``continuation_token`` starts the next page."""
    items = "".join(
        "<Bucket>"
        + el("Name", b.name)
        + el("CreationDate", iso_date(b.created_ms))
        + (el("BucketRegion", b.region) if paged else "")
        + "</Bucket>"
        for b in buckets
    )
    owner = "<Owner>" + el("ID", owner_id) + el("DisplayName", owner_name) + "</Owner>"
    tail = opt("ContinuationToken", continuation_token) + opt("Prefix", prefix)
    return document("ListAllMyBucketsResult", [owner, "<Buckets>", items, "</Buckets>", tail])


def location_constraint(body: bytes) -> str | None:
    """The LocationConstraint of a CreateBucket body; None when the body is empty."""
    if not body.strip():
        return None
    doc = parse(body, "CreateBucketConfiguration")
    value = doc.get("LocationConstraint")
    return value if isinstance(value, str) else None


def location(region: str) -> bytes:
    # us-east-1 is reported as an empty LocationConstraint, as AWS does.
    value = "" if region == "us-east-1" else region
    return document("LocationConstraint", [value])
