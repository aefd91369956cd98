"""Per-bucket usage counters on every KV backend (LMDB and a real etcd): every commit and
removal moves them by exactly what it stored or removed, whatever the versioning state,
folding never changes what a read sees, concurrent writers never conflict over them, and
the backfill counts buckets made before the counters existed."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from meta import keys, usage
from meta.api import KV, Txn
from meta.records import BucketRecord, ObjectHead
from meta.store import MetaStore
from meta.usage import BucketUsage
from tests.contract.test_staged_commits import head_of, ids, observe

BUCKET = "counted"


@pytest.fixture
async def store(kv: KV) -> MetaStore:
    s = MetaStore(kv, gc_grace_ms=0)
    await s.create_bucket(BUCKET, "us-east-1")
    return s


async def truth(store: MetaStore, bucket: str = BUCKET) -> BucketUsage:
    """What the bucket holds, counted by a full scan of its versions and heads."""
    return await usage._count(store.kv, bucket)


def inline(key: str, size: int) -> ObjectHead:
    return ObjectHead(key, size=size, etag="e", inline=os.urandom(size))


async def put(store: MetaStore, key: str, nblocks: int, bucket: str = BUCKET) -> ObjectHead:
    blocks = ids(nblocks)
    head = head_of(key, blocks) if nblocks else inline(key, random.randint(0, 40))
    await store.put_object(bucket, head, await observe(store, blocks))
    return head


async def set_versioning(store: MetaStore, status: str) -> None:
    def apply(rec: BucketRecord) -> None:
        rec.config["versioning"] = status

    await store.update_bucket(BUCKET, apply)


async def test_unversioned_put_overwrite_delete(store: MetaStore) -> None:
    assert await store.bucket_usage(BUCKET) == BucketUsage(0, 0)
    await put(store, "a", 3)  # 3 blocks of 1 byte each
    await put(store, "b", 5)
    assert await store.bucket_usage(BUCKET) == BucketUsage(2, 8)
    await put(store, "a", 7)  # an overwrite replaces: one object, new size
    assert await store.bucket_usage(BUCKET) == BucketUsage(2, 12)
    await store.delete_current(BUCKET, "b")
    assert await store.bucket_usage(BUCKET) == BucketUsage(1, 7)
    await store.delete_object(BUCKET, "a")
    assert await store.bucket_usage(BUCKET) == BucketUsage(0, 0)
    assert await store.all_usage() == {BUCKET: BucketUsage(0, 0)}


async def test_versions_and_delete_markers_count(store: MetaStore) -> None:
    await put(store, "k", 2)  # written before versioning: the null version
    await set_versioning(store, "Enabled")
    v2 = await put(store, "k", 4)
    assert await store.bucket_usage(BUCKET) == BucketUsage(2, 6)  # both versions stay
    _, marker = await store.delete_current(BUCKET, "k")
    assert marker is not None
    assert await store.bucket_usage(BUCKET) == BucketUsage(3, 6)  # a marker: no bytes
    await store.delete_version(BUCKET, "k", marker.vid)
    await store.delete_version(BUCKET, "k", v2.vid)
    assert await store.bucket_usage(BUCKET) == BucketUsage(1, 2)
    await set_versioning(store, "Suspended")
    await put(store, "k", 9)  # replaces the null version for good
    assert await store.bucket_usage(BUCKET) == BucketUsage(1, 9)
    await store.delete_current(BUCKET, "k")  # a null marker replaces it too
    assert await store.bucket_usage(BUCKET) == BucketUsage(1, 0)
    assert await store.bucket_usage(BUCKET) == await truth(store)


async def test_random_history_matches_a_full_count(store: MetaStore) -> None:
    """Random writes and removals in every versioning state, folded at random points:
    the counters always equal a scan of what is stored."""
    rnd = random.Random(18)
    names = [f"k{i}" for i in range(6)]
    states = iter(["Enabled", "Suspended", "Enabled"])
    for step in range(90):
        key, roll = rnd.choice(names), rnd.random()
        if step % 30 == 29:
            await set_versioning(store, next(states))
        if roll < 0.45:
            await put(store, key, rnd.choice([0, 1, 3, 40]))
        elif roll < 0.7:
            await store.delete_current(BUCKET, key)
        else:
            page = await store.list_versions(BUCKET, key, "", "", "", 10)
            found = [e.head.version_id for e in page.entries if e.key == key and e.head is not None]
            if found:
                await store.delete_version(BUCKET, key, rnd.choice(found))
        if rnd.random() < 0.2:
            await usage.fold(store.kv, max_batches=1)
        assert await store.bucket_usage(BUCKET) == await truth(store), f"step {step}"
    await usage.fold(store.kv)
    assert await store.kv.scan(keys.USAGE_DELTA, keys.prefix_end(keys.USAGE_DELTA)) == []
    assert await store.bucket_usage(BUCKET) == await truth(store)


async def test_folding_is_bounded_and_keeps_totals(store: MetaStore) -> None:
    await store.create_bucket("other", "us-east-1")
    for i in range(usage.FOLD_BATCH + 20):
        await put(store, f"a{i}", 1)
        await put(store, f"b{i}", 2, bucket="other")
    before = await store.all_usage()
    assert before == {BUCKET: BucketUsage(70, 70), "other": BucketUsage(70, 140)}
    assert await usage.fold(store.kv, max_batches=1) == usage.FOLD_BATCH
    assert await store.all_usage() == before
    assert await usage.fold(store.kv) == 140 - usage.FOLD_BATCH
    assert await store.all_usage() == before
    for i in range(70):
        await store.delete_current(BUCKET, f"a{i}")
    await usage.fold(store.kv)
    # An emptied bucket leaves no total behind, and reads as zero.
    assert await store.kv.get(keys.usage_total_key(BUCKET)) is None
    assert await store.bucket_usage(BUCKET) == BucketUsage(0, 0)


async def test_concurrent_writers_do_not_conflict_over_usage(store: MetaStore) -> None:
    """Twenty PUTs to one bucket at once: each writes its own delta, none retries for it."""
    commits = 0
    real_commit = store.kv.commit

    async def counting(txn: Txn) -> None:
        nonlocal commits
        commits += 1
        await real_commit(txn)

    store.kv.commit = counting  # type: ignore[method-assign]
    await asyncio.gather(*(put(store, f"k{i}", 0) for i in range(20)))
    assert commits == 20, "a commit conflicted and retried"
    assert (await store.bucket_usage(BUCKET)).objects == 20


async def test_backfill_counts_buckets_made_before_the_counters(store: MetaStore) -> None:
    kv = store.kv
    bkey = keys.bucket_key(BUCKET)
    raw = await kv.get(bkey)
    assert raw is not None
    old = BucketRecord.from_bytes(raw)
    old.counted = False  # as written by a release without counters
    await kv.commit(Txn().put(bkey, old.to_bytes()))
    store.forget_bucket(BUCKET)
    await put(store, "a", 3)
    await put(store, "b", 0)
    assert await store.bucket_usage(BUCKET) == BucketUsage(0, 0)  # not counted yet
    assert await usage.backfill(kv) == ([BUCKET], 0)
    assert await store.bucket_usage(BUCKET) == await truth(store)
    assert (await store.bucket_usage(BUCKET)).objects == 2
    assert await usage.backfill(kv) == ([], 0)  # once
    store.forget_bucket(BUCKET)
    await put(store, "c", 4)  # counted from now on
    assert await store.bucket_usage(BUCKET) == await truth(store)
