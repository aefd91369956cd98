"""A bucket's lifecycle rules: stored, read back, and applied to the x-amz-expiration
header of GET, HEAD and PUT.

The rules live in the bucket record's config under "lifecycle" (the stored rule dicts of
meta/lifecycle.py), beside versioning and CORS: one compare-and-swap changes them, and the
housekeeper reads them from the same record (cairn/housekeeper.py, meta/lifecycle_run.py).
"""

from __future__ import annotations

from typing import Any

from gateway.objects.buckets import Buckets, set_config
from gateway.objects.types import StoredObject
from meta import lifecycle
from meta.errors import BucketNotFound
from meta.records import BucketRecord, now_ms

_CACHE_MAX = 10_000
# bucket -> (raw bucket record, its rules): a GET pays a dict lookup, not a decode.
_parsed: dict[str, tuple[bytes, list[lifecycle.Rule]]] = {}


async def lifecycle_rules(buckets: Buckets, name: str) -> list[dict[str, Any]] | None:
    """The bucket's rules as stored; None when it has none (NoSuchBucket when no bucket)."""
    rec = await buckets.meta.get_bucket(name)
    if rec is None:
        raise BucketNotFound(name)
    rules = rec.config.get("lifecycle")
    return rules if isinstance(rules, list) else None


async def set_lifecycle_rules(
    buckets: Buckets, name: str, rules: list[dict[str, Any]] | None
) -> None:
    """Replace the bucket's rules (None: delete them)."""
    await set_config(buckets, name, "lifecycle", rules)


async def _rules(buckets: Buckets, bucket: str) -> list[lifecycle.Rule]:
    raw = await buckets.meta.bucket_raw(bucket, cached=True)
    hit = _parsed.get(bucket)
    if hit is None or hit[0] != raw:
        rules = lifecycle.rules_of(BucketRecord.from_bytes(raw).config.get("lifecycle"))
        if len(_parsed) > _CACHE_MAX:
            _parsed.clear()
        hit = _parsed[bucket] = (raw, rules)
    return hit[1]


async def abort_date(buckets: Buckets, bucket: str, key: str) -> tuple[int, str] | None:
    """(date in ms, rule id) when an upload of ``key`` started now would be aborted by an
    AbortIncompleteMultipartUpload rule (AWS's clock, as for x-amz-expiration)."""
    rules = await _rules(buckets, bucket)
    return lifecycle.abort_date(rules, key, now_ms(), lifecycle.AWS_CLOCK) if rules else None


async def expiration(buckets: Buckets, bucket: str, head: StoredObject) -> tuple[int, str] | None:
    """(expiry date in ms, rule id) of the Expiration rule that applies to this version,
    by AWS's clock (the date AWS would give; a scaled test day changes when the
    housekeeper acts, not this date). None for a noncurrent version or without a rule."""
    rules = await _rules(buckets, bucket)
    if not rules:
        return None
    return lifecycle.expiry(
        rules, head.key, head.size, head.tags, head.mtime_ms, lifecycle.AWS_CLOCK
    )
