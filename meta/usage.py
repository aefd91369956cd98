"""Objects and bytes per bucket, kept by every commit and never counted on a request.

What counts is what S3's bucket metrics count: every stored version (current or not) is
an object with its size in bytes, and a delete marker is an object of no bytes.
Multipart parts of uploads not yet completed are not counted.

A single counter per bucket, changed by every commit, would be a hot key: on etcd every
concurrent PUT to a bucket would conflict on it. So a commit instead writes a *delta*
record of its own, ``SD<bucket>\\0<random id>`` -> (objects, bytes), in the same
transaction as the head it changes; nobody else writes that key, so commits never
conflict over usage. The housekeeper folds deltas into the bucket's total
(``ST<bucket>``) in bounded batches, each one transaction that compares the deltas it
deletes and the totals it changes. A read is the total plus the deltas still pending
(at most ``PENDING_READ`` of them, so a read stays bounded even if folding lags).

Buckets made before the counters existed (``BucketRecord.counted`` false) get no deltas
until the housekeeper's one-time backfill has counted them (``backfill``): a scan in the
background, never on a request. It is exact for a bucket nobody writes to while it is
counted; a write to that bucket during its scan may be counted twice or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import msgpack

from meta import keys
from meta.api import KV, Txn, TxnConflict
from meta.records import BucketRecord, ObjectHead

# Deltas folded per transaction: a compare and a delete each, plus a compare and a put
# per changed total, within etcd's 128 operations and compares.
FOLD_BATCH = 50
# Pending deltas a read adds to the total; folding keeps far fewer than this pending.
PENDING_READ = 10_000


@dataclass(frozen=True)
class BucketUsage:
    objects: int
    bytes: int

    def __add__(self, other: BucketUsage) -> BucketUsage:
        return BucketUsage(self.objects + other.objects, self.bytes + other.bytes)

    def __neg__(self) -> BucketUsage:
        return BucketUsage(-self.objects, -self.bytes)

    def __bool__(self) -> bool:
        return bool(self.objects or self.bytes)


ZERO = BucketUsage(0, 0)


def of_version(head: ObjectHead) -> BucketUsage:
    """What one stored version (or delete marker) adds to its bucket's usage."""
    return BucketUsage(1, 0 if head.marker else head.size)


def encode(usage: BucketUsage) -> bytes:
    return msgpack.packb((usage.objects, usage.bytes))


def decode(raw: bytes) -> BucketUsage:
    objects, size = msgpack.unpackb(raw)
    return BucketUsage(objects, size)


def add_delta(txn: Txn, bucket: str, change: BucketUsage) -> None:
    """Record ``change`` to the bucket's usage in txn (nothing when it is zero)."""
    if change:
        txn.put(keys.usage_delta_prefix(bucket) + os.urandom(16), encode(change))


def bucket_of_delta(key: bytes) -> str:
    return key[len(keys.USAGE_DELTA) :].split(b"\0", 1)[0].decode()


async def read_bucket(kv: KV, bucket: str) -> BucketUsage:
    """The bucket's total plus its pending deltas."""
    raw = await kv.get(keys.usage_total_key(bucket))
    total = decode(raw) if raw is not None else ZERO
    start = keys.usage_delta_prefix(bucket)
    for _, value in await kv.scan(start, keys.prefix_end(start), limit=PENDING_READ):
        total += decode(value)
    return total


async def read_all(kv: KV) -> dict[str, BucketUsage]:
    """Every counted bucket's total plus pending deltas (one scan of the totals, one of
    at most PENDING_READ deltas): what a metrics scrape or the console reads."""
    out: dict[str, BucketUsage] = {}
    for key, raw in await _scan_all(kv, keys.USAGE_TOTAL):
        out[key[len(keys.USAGE_TOTAL) :].decode()] = decode(raw)
    deltas = await kv.scan(keys.USAGE_DELTA, keys.prefix_end(keys.USAGE_DELTA), PENDING_READ)
    for key, raw in deltas:
        bucket = bucket_of_delta(key)
        out[bucket] = out.get(bucket, ZERO) + decode(raw)
    return out


async def _scan_all(kv: KV, prefix: bytes) -> list[tuple[bytes, bytes]]:
    rows: list[tuple[bytes, bytes]] = []
    start, end = prefix, keys.prefix_end(prefix)
    while True:
        page = await kv.scan(start, end, limit=1000)
        rows.extend(page)
        if len(page) < 1000:
            return rows
        start = page[-1][0] + b"\0"


async def fold(kv: KV, max_batches: int = 40) -> int:
    """Fold pending deltas into totals, FOLD_BATCH per transaction; return how many were
    folded. A conflict (another folder) just ends this round: nothing is lost."""
    folded = 0
    for _ in range(max_batches):
        rows = await kv.scan(keys.USAGE_DELTA, keys.prefix_end(keys.USAGE_DELTA), FOLD_BATCH)
        if not rows:
            break
        try:
            await kv.commit(await _fold_txn(kv, rows))
        except TxnConflict:
            break
        folded += len(rows)
    return folded


async def _fold_txn(kv: KV, rows: Iterable[tuple[bytes, bytes]]) -> Txn:
    txn = Txn()
    sums: dict[str, BucketUsage] = {}
    for key, raw in rows:
        txn.expect(key, raw).delete(key)
        bucket = bucket_of_delta(key)
        sums[bucket] = sums.get(bucket, ZERO) + decode(raw)
    for bucket, change in sums.items():
        tkey = keys.usage_total_key(bucket)
        old = await kv.get(tkey)
        total = (decode(old) if old is not None else ZERO) + change
        txn.expect(tkey, old)
        if total:
            txn.put(tkey, encode(total))
        elif old is not None:
            txn.delete(tkey)  # an absent total is zero: an emptied bucket leaves nothing
    return txn


async def backfill(kv: KV) -> tuple[list[str], int]:
    """Count every bucket made before the counters existed, once; return their names and
    how many are left for another pass (their record changed during their scan). Each
    bucket's count and its ``counted`` flag are committed together, compared against
    the bucket record read before its scan."""
    done, left = [], 0
    for key, raw in await _scan_all(kv, keys.BUCKET):
        rec = BucketRecord.from_bytes(raw)
        if rec.counted or rec.state != "active":
            continue
        count = await _count(kv, rec.name)
        rec.counted = True
        txn = Txn().expect(key, raw).put(key, rec.to_bytes())
        add_delta(txn, rec.name, count)
        try:
            await kv.commit(txn)
        except TxnConflict:
            left += 1  # the bucket changed meanwhile: the next pass counts it again
            continue
        done.append(rec.name)
    return done, left


async def _count(kv: KV, bucket: str) -> BucketUsage:
    """Every version in the history, plus current heads written before versioning."""
    total = ZERO
    for prefix, legacy_only in (
        (keys.version_prefix(bucket), False),
        (keys.object_prefix(bucket), True),
    ):
        start, end = prefix, keys.prefix_end(prefix)
        while True:
            page = await kv.scan(start, end, limit=1000)
            for _, raw in page:
                head = ObjectHead.from_bytes(raw)
                if not (legacy_only and head.order):
                    total += of_version(head)
            if len(page) < 1000:
                break
            start = page[-1][0] + b"\0"
    return total


class Tally:
    """One transaction's change to its bucket's usage: the version it adds, minus each
    version it removes for good."""

    def __init__(self, added: ObjectHead | None = None) -> None:
        self.change = of_version(added) if added is not None else ZERO

    def remove(self, head: ObjectHead | None) -> Tally:
        if head is not None:
            self.change += -of_version(head)
        return self

    def record(self, txn: Txn, bucket: str, bucket_raw: bytes) -> None:
        """Add the change to txn, if the bucket's usage is counted yet (see backfill)."""
        if BucketRecord.from_bytes(bucket_raw).counted:
            add_delta(txn, bucket, self.change)
