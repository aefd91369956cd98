"""Commits bigger than one transaction (meta.journal), on every KV backend.

Every backend refuses transactions over etcd's default limits (meta.api.MAX_TXN_OPS), so
these tests, on LMDB and on a real etcd running with default limits, show that objects with
hundreds of blocks, multipart uploads with hundreds of parts and their deletion all work in
bounded transactions, and that a crash between any two of those transactions leaves either
nothing visible or the whole object, with reference counts that add up once housekeeping
has run.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from meta import journal, keys, limits
from meta.api import KV, Txn
from meta.errors import BlockVanished, ObjectNotFound, PartChanged
from meta.keys import part_prefix
from meta.records import ObjectHead, Part, RefCount, Upload
from meta.store import MetaStore
from meta.uploads import Uploads

BUCKET = "staged"


class Crash(BaseException):
    """The process died: nothing after this runs (not even cleanup that talks to meta)."""


class DyingKV:
    """Passes calls to a real KV until ``commits_left`` commits have gone through; then
    every call fails, as if the process had been killed at that point."""

    def __init__(self, kv: KV, commits_left: int) -> None:
        self.kv = kv
        self.max_key_size = kv.max_key_size
        self.commits_left = commits_left
        self.dead = False

    async def get(self, key: bytes) -> bytes | None:
        self._alive()
        return await self.kv.get(key)

    async def scan(self, start: bytes, end: bytes, limit: int = 1000, *, reverse: bool = False):
        self._alive()
        return await self.kv.scan(start, end, limit, reverse=reverse)

    async def commit(self, txn: Txn) -> None:
        self._alive()
        if self.commits_left <= 0:
            self.dead = True
            raise Crash()
        self.commits_left -= 1
        await self.kv.commit(txn)

    def _alive(self) -> None:
        if self.dead:
            raise Crash()

    async def close(self) -> None:
        pass


def ids(n: int) -> list[bytes]:
    return [os.urandom(32) for _ in range(n)]


async def observe(store: MetaStore, blocks: list[bytes]) -> dict[bytes, bytes]:
    return {b: await store.observe_block(b) for b in dict.fromkeys(blocks)}


async def counts(kv: KV) -> dict[bytes, int]:
    rows = await kv.scan(keys.REFCOUNT, keys.prefix_end(keys.REFCOUNT), limit=1_000_000)
    return {k[1:]: RefCount.from_bytes(v).count for k, v in rows}


async def check_invariants(store: MetaStore) -> None:
    """Every reference count equals the references that committed heads and parts hold;
    no journal record is left; every block-list page belongs to a live head."""
    kv = store.kv
    await store.journal.run()
    assert await store.journal.pending() == []
    expected: Counter[bytes] = Counter()
    live_versions = set()
    for _, raw in await kv.scan(keys.OBJECT, keys.prefix_end(keys.OBJECT), limit=100_000):
        head = ObjectHead.from_bytes(raw)
        live_versions.add(head.version)
        expected.update(b for b, _ in await store.block_list(head))
    for _, raw in await kv.scan(b"Q", b"R", limit=100_000):
        expected.update(b for b, _ in Part.from_bytes(raw).blocks)
    got = await counts(kv)
    wrong = {b: (got.get(b, 0), expected[b]) for b in set(got) | set(expected)}
    wrong = {b: v for b, v in wrong.items() if v[0] != v[1]}
    assert not wrong, f"{len(wrong)} reference counts disagree, e.g. {next(iter(wrong.values()))}"
    for k, _ in await kv.scan(keys.PAGE, keys.prefix_end(keys.PAGE), limit=100_000):
        assert k[1:17] in live_versions, "a block-list page outlived its version"


def head_of(key: str, blocks: list[bytes]) -> ObjectHead:
    return ObjectHead(key, size=len(blocks), etag="e", blocks=[(b, 1) for b in blocks])


@pytest.fixture
async def store(kv: KV) -> MetaStore:
    s = MetaStore(kv)
    await s.create_bucket(BUCKET, "us-east-1")
    return s


async def test_large_object_commits_and_releases_in_bounded_txns(store: MetaStore) -> None:
    """1,500 block refs over 400 distinct blocks (~6 GiB of 4 MiB blocks): paged, staged."""
    distinct = ids(400)
    blocks = [distinct[i % 400] for i in range(1500)]
    observed = await observe(store, blocks)
    await store.put_object(BUCKET, head_of("big", blocks), observed)
    head = await store.get_object(BUCKET, "big")
    assert head.pages == 2 and [b for b, _ in await store.block_list(head)] == blocks
    got = await counts(store.kv)
    assert all(
        got[b] == 1500 // 400 + (1 if distinct.index(b) < 1500 % 400 else 0) for b in distinct
    )
    await check_invariants(store)

    # Overwritten by a small object: the big version is released through the journal.
    small = ids(3)
    await store.put_object(BUCKET, head_of("big", small), await observe(store, small))
    got = await counts(store.kv)
    assert all(got[b] == 0 for b in distinct) and all(got[b] == 1 for b in small)
    await check_invariants(store)
    due = await store.kv.scan(keys.GCQUEUE, keys.prefix_end(keys.GCQUEUE), limit=10_000)
    assert set(distinct) <= {k[9:] for k, _ in due}  # queued for GC

    await store.delete_object(BUCKET, "big")
    assert all(c == 0 for c in (await counts(store.kv)).values())
    await check_invariants(store)


async def test_delete_of_a_large_object(store: MetaStore) -> None:
    blocks = ids(300)
    await store.put_object(BUCKET, head_of("k", blocks), await observe(store, blocks))
    await store.delete_object(BUCKET, "k")
    assert all(c == 0 for c in (await counts(store.kv)).values())
    await check_invariants(store)


async def test_shared_blocks_between_two_large_objects(store: MetaStore) -> None:
    common = ids(100)
    a, b = common + ids(50), ids(50) + common
    await store.put_object(BUCKET, head_of("a", a), await observe(store, a))
    await store.put_object(BUCKET, head_of("b", b), await observe(store, b))
    got = await counts(store.kv)
    assert all(got[x] == 2 for x in common)
    await store.delete_object(BUCKET, "a")
    got = await counts(store.kv)
    assert all(got[x] == 1 for x in common)
    await check_invariants(store)


@pytest.mark.parametrize("size", [40, 300])
async def test_crash_at_every_step_of_a_staged_put(kv: KV, size: int) -> None:
    """Kill the writer after each of its metadata commits in turn: the object is either
    absent or whole, and after housekeeping every count adds up and no stage is left."""
    store = MetaStore(kv, gc_grace_ms=0, upload_grace_ms=0)
    await store.create_bucket(BUCKET, "us-east-1")
    old = ids(5)
    blocks = ids(size)
    point = 0
    while True:
        key = f"crash-{size}-{point}"
        await store.put_object(BUCKET, head_of(key, old), await observe(store, old))
        observed = await observe(store, blocks)
        dying = MetaStore(DyingKV(kv, point), gc_grace_ms=0, upload_grace_ms=0)
        try:
            await dying.put_object(BUCKET, head_of(key, blocks), observed)
            finished = True
        except Crash:
            finished = False
        head = await store.get_object(BUCKET, key)
        listed = [b for b, _ in await store.block_list(head)]
        assert listed in (old, blocks), "a torn object is visible"
        # The stage is young (grace 0 means it counts as abandoned at once here).
        await check_invariants(store)
        if finished:
            assert listed == blocks
            break
        point += 1
    assert point >= 3  # it really was staged in several transactions


async def test_young_stage_is_left_alone(store: MetaStore) -> None:
    """A stage within the upload grace period may still commit: housekeeping keeps it."""
    blocks = ids(50)
    observed = await observe(store, blocks)
    skey, _ = await store.journal.stage(os.urandom(16), Counter(blocks), observed)
    await store.journal.run()
    assert await store.journal.pending() == [skey]
    assert all(c == 1 for c in (await counts(store.kv)).values())


async def test_rolled_back_stage_fails_its_commit(kv: KV) -> None:
    """A writer slower than the grace period finds its stage rolled back and its commit
    refused (StageLost): it never commits references that were dropped."""
    store = MetaStore(kv, gc_grace_ms=0, upload_grace_ms=0)
    await store.create_bucket(BUCKET, "us-east-1")
    blocks = ids(50)
    observed = await observe(store, blocks)
    head = head_of("slow", blocks)
    stage = await store.journal.stage(head.version, Counter(blocks), observed, head.version)
    await store.journal.run()  # housekeeping: the writer is presumed dead
    assert all(c == 0 for c in (await counts(kv)).values())
    txn = Txn().expect(*stage).delete(stage[0]).put(b"Oslow", head.to_bytes())
    from meta.api import TxnConflict

    with pytest.raises(TxnConflict):
        await kv.commit(txn)
    await check_invariants(store)


async def test_staged_refs_refuse_a_block_claimed_by_gc(store: MetaStore) -> None:
    blocks = ids(40)
    observed = await observe(store, blocks)
    victim = blocks[7]
    ckey = keys.REFCOUNT + victim
    await store.kv.commit(Txn().put(ckey, RefCount.new(-1).to_bytes()))  # GC claimed it
    with pytest.raises(BlockVanished):
        await store.put_object(BUCKET, head_of("v", blocks), observed)
    assert await store.journal.pending() == []  # rolled back at once
    assert all(c == 0 for b, c in (await counts(store.kv)).items() if b != victim)


# ------------------------------------------------------------------- multipart


async def upload_with_parts(
    store: MetaStore, key: str, n_parts: int, blocks_per_part: int = 1
) -> tuple[Uploads, Upload, list[list[bytes]]]:
    uploads = Uploads(store)
    upload = await uploads.create(Upload("", BUCKET, key))
    part_blocks = []
    for n in range(1, n_parts + 1):
        blocks = ids(blocks_per_part)
        await uploads.put_part(
            BUCKET, key, upload.upload_id,
            Part(n, f"etag{n}", blocks_per_part, [(b, 1) for b in blocks]),
            await observe(store, blocks),
        )  # fmt: skip
        part_blocks.append(blocks)
    return uploads, upload, part_blocks


async def complete(uploads: Uploads, upload: Upload, numbers: list[int]) -> ObjectHead:
    _, uraw = await uploads.get(BUCKET, upload.key, upload.upload_id)
    parts = {p.number: (p, raw) for p, raw in await uploads.parts(upload.upload_id)}
    used = [parts[n] for n in numbers]
    head = ObjectHead(upload.key, etag="x-1", blocks=[b for p, _ in used for b in p.blocks])
    upload, uraw = await uploads.get(BUCKET, upload.key, upload.upload_id)
    return await uploads.complete(upload, uraw, head, used)


async def test_complete_of_300_parts(store: MetaStore) -> None:
    uploads, upload, part_blocks = await upload_with_parts(store, "mp", 300)
    used = [n for n in range(1, 301) if n % 10]  # 270 used, 30 left out
    await complete(uploads, upload, used)
    head = await store.get_object(BUCKET, "mp")
    assert [b for b, _ in await store.block_list(head)] == [part_blocks[n - 1][0] for n in used]
    assert (
        await store.kv.scan(
            part_prefix(upload.upload_id), keys.prefix_end(part_prefix(upload.upload_id)), limit=10
        )
        == []
    )
    got = await counts(store.kv)
    assert all(got[part_blocks[n - 1][0]] == (1 if n % 10 else 0) for n in range(1, 301))
    assert await uploads.completed(BUCKET, "mp", upload.upload_id) is not None
    await check_invariants(store)
    await store.delete_object(BUCKET, "mp")
    await check_invariants(store)


async def test_abort_of_300_parts_with_big_parts(store: MetaStore) -> None:
    uploads, upload, _ = await upload_with_parts(store, "ab", 150)
    big = ids(100)  # one part with more distinct blocks than a transaction takes
    await uploads.put_part(
        BUCKET, "ab", upload.upload_id, Part(151, "e", 100, [(b, 1) for b in big]),
        await observe(store, big),
    )  # fmt: skip
    await check_invariants(store)
    await uploads.abort(BUCKET, "ab", upload.upload_id)
    assert all(c == 0 for c in (await counts(store.kv)).values())
    await check_invariants(store)


async def test_big_part_replaced(store: MetaStore) -> None:
    uploads, upload, _ = await upload_with_parts(store, "rp", 1, blocks_per_part=80)
    new = ids(80)
    await uploads.put_part(
        BUCKET, "rp", upload.upload_id, Part(1, "e2", 80, [(b, 1) for b in new]),
        await observe(store, new),
    )  # fmt: skip
    got = await counts(store.kv)
    assert sum(got.values()) == 80 and all(got[b] == 1 for b in new)
    await check_invariants(store)


async def test_part_uploaded_during_complete_is_detected(store: MetaStore) -> None:
    """Complete compares only the upload record; a part commit changes it."""
    uploads, upload, _ = await upload_with_parts(store, "race", 3)
    _, uraw = await uploads.get(BUCKET, "race", upload.upload_id)
    parts = await uploads.parts(upload.upload_id)
    late = ids(1)
    await uploads.put_part(
        BUCKET, "race", upload.upload_id, Part(2, "new", 1, [(late[0], 1)]),
        await observe(store, late),
    )  # fmt: skip
    head = ObjectHead("race", etag="x-3", blocks=[b for p, _ in parts for b in p.blocks])
    with pytest.raises(PartChanged):
        await uploads.complete(upload, uraw, head, parts)
    with pytest.raises(Exception):  # noqa: B017 - ObjectNotFound: nothing committed
        await store.get_object(BUCKET, "race")
    await complete(uploads, upload, [1, 2, 3])
    head = await store.get_object(BUCKET, "race")
    assert late[0] in [b for b, _ in await store.block_list(head)]
    await check_invariants(store)


@pytest.mark.parametrize("staged_pages", [False, True])
async def test_crash_at_every_step_of_a_large_complete(
    kv: KV, staged_pages: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Complete of 150 parts (300 blocks: a paged block list), killed after each of its
    commits in turn; with staged_pages the pages are written ahead of the commit, as for
    lists longer than a transaction takes."""
    if staged_pages:
        monkeypatch.setattr("meta.limits.PAGES_IN_COMMIT", 0)
    store = MetaStore(kv, gc_grace_ms=0, upload_grace_ms=0)
    await store.create_bucket(BUCKET, "us-east-1")
    used = list(range(1, 151, 3)) + list(range(2, 151, 3))
    used.sort()
    point = 0
    while True:
        key = f"mpc-{point}"
        uploads, upload, _ = await upload_with_parts(store, key, 150, blocks_per_part=2)
        dying = Uploads(MetaStore(DyingKV(kv, point), gc_grace_ms=0, upload_grace_ms=0))
        try:
            await complete(dying, upload, used)
            finished = True
        except Crash:
            finished = False
        done = await uploads.completed(BUCKET, key, upload.upload_id) is not None
        try:
            head = await store.get_object(BUCKET, key)
            assert done and len(await store.block_list(head)) == 2 * len(used)
        except ObjectNotFound:
            assert not done
            await uploads.get(BUCKET, key, upload.upload_id)  # the upload is still there
        await check_invariants(store)
        if done:
            assert (
                await kv.scan(
                    part_prefix(upload.upload_id),
                    keys.prefix_end(part_prefix(upload.upload_id)),
                    limit=10,
                )
                == []
            )
        if finished:
            break
        point += 1
    assert point >= (4 if staged_pages else 3)


async def test_journal_release_records_are_bounded(kv: KV) -> None:
    """A release's batches stay within the limits even for a list with no repeats."""
    store = MetaStore(kv)
    blocks = ids(3 * limits.BATCH + 5)
    for b in blocks:
        await store.observe_block(b)
    await kv.commit(Txn().put(keys.RELEASE + b"r" * 16, journal.release_record(blocks)))
    await store.journal.run()
    assert await store.journal.pending() == []


async def test_many_parts_committing_at_once(store: MetaStore) -> None:
    """Every part commit changes the upload record, so simultaneous part commits conflict
    and retry: all of them must still land, with their references."""
    import asyncio

    uploads = Uploads(store)
    upload = await uploads.create(Upload("", BUCKET, "many"))
    blocks = ids(100)
    observed = await observe(store, blocks)
    await asyncio.gather(
        *(
            uploads.put_part(
                BUCKET,
                "many",
                upload.upload_id,
                Part(i + 1, f"e{i}", 1, [(b, 1)]),
                {b: observed[b]},
            )  # fmt: skip
            for i, b in enumerate(blocks)
        )
    )
    parts = await uploads.parts(upload.upload_id)
    assert [p.number for p, _ in parts] == list(range(1, 101))
    assert all(c == 1 for c in (await counts(store.kv)).values())
    await check_invariants(store)
