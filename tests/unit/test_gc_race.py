"""GC against deduplicating writes: the safety invariant of the design (section 6).

No acknowledged object ever loses a block, including when a new PUT deduplicates onto a
block at the moment its last other reference is deleted. Driven through the real
ObjectService over LMDB metadata and an LMDB block store; no stand-ins.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blockstore.address import block_id
from blockstore.cluster.gc import collect_garbage
from blockstore.cluster.replicated import ReplicatedBlocks
from blockstore.lmdb_store import LmdbBlockStore
from gateway.objects.service import ObjectService
from gateway.objects.types import StoredObject
from meta import keys
from meta.errors import BlockVanished, ObjectNotFound
from meta.lmdb_kv import LmdbKV
from meta.records import ObjectHead
from meta.store import MetaStore

BLOCK = 64 << 10
INLINE = 1 << 10
BUCKET = "gc"


@dataclass
class Env:
    kv: LmdbKV
    meta: MetaStore
    store: LmdbBlockStore
    svc: ObjectService


async def open_env(root: Path, grace_ms: int) -> Env:
    kv = LmdbKV(root / "meta", map_size=1 << 30)
    meta = MetaStore(kv, gc_grace_ms=grace_ms, upload_grace_ms=grace_ms)
    store = LmdbBlockStore(root / "n0", map_size=1 << 31)
    svc = ObjectService(meta, ReplicatedBlocks({"n0": store}), block_size=BLOCK, inline_max=INLINE)
    await meta.create_bucket(BUCKET, "us-east-1")
    return Env(kv, meta, store, svc)


async def close_env(env: Env) -> None:
    await env.store.close()
    await env.kv.close()


@pytest.fixture
async def env0(tmp_path: Path) -> AsyncIterator[Env]:
    e = await open_env(tmp_path, grace_ms=0)
    yield e
    await close_env(e)


async def chunks(data: bytes, piece: int = 20_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]
        await asyncio.sleep(0)


async def slow_chunks(data: bytes, rnd: random.Random, piece: int = 20_000) -> AsyncIterator[bytes]:
    """A client of varying speed: some uploads overlap many others' whole lifetimes."""
    delay = rnd.choice([0, 0, 0.003, 0.02, 0.02])
    for i in range(0, len(data), piece):
        yield data[i : i + piece]
        await asyncio.sleep(delay)


async def put(env: Env, key: str, data: bytes, rnd: random.Random | None = None) -> StoredObject:
    body = chunks(data) if rnd is None else slow_chunks(data, rnd)
    return await env.svc.put_object(BUCKET, key, body)


async def read_all(env: Env, head: StoredObject) -> bytes:
    return b"".join([c async for c in env.svc.read(head)])


async def read_key(env: Env, key: str) -> bytes:
    return await read_all(env, await env.meta.get_object(BUCKET, key))


async def collect(env: Env) -> int:
    """One housekeeping GC step: journal recovery, then due blocks deleted."""
    await env.meta.journal.run()
    return await collect_garbage(env.meta, env.svc.blocks)


async def gc_until_idle(env: Env) -> int:
    total = 0
    for _ in range(100):
        n = await collect(env)
        total += n
        if n == 0 and not await env.meta.gc_due():
            break
    return total


async def records(env: Env, prefix: bytes) -> list[tuple[bytes, bytes]]:
    return await env.kv.scan(prefix, keys.prefix_end(prefix), limit=1_000_000)


def block_ids(data: bytes) -> list[bytes]:
    return [block_id(data[i : i + BLOCK]) for i in range(0, len(data), BLOCK)]


def content(seed: int, n_blocks: int, tail: int = 100) -> bytes:
    rnd = random.Random(seed)
    return rnd.randbytes(n_blocks * BLOCK + tail)


# ------------------------------------------------------------------------- the race


async def test_race_deletes_dedup_puts_and_gc(tmp_path: Path) -> None:
    env = await open_env(tmp_path, grace_ms=0)
    try:
        base = [content(s, 4) for s in range(3)]
        # overlapping contents: shared leading blocks, different tails
        contents = base + [base[0][: 2 * BLOCK] + base[1][2 * BLOCK :], base[2][:BLOCK] * 3]

        stop = asyncio.Event()
        gc_runs = 0
        failures: list[str] = []
        vanished = 0
        acked = 0

        async def gc() -> None:
            nonlocal gc_runs
            while not stop.is_set():
                await collect(env)
                gc_runs += 1
                await asyncio.sleep(0)

        async def worker(w: int, model: dict[str, bytes]) -> None:
            nonlocal vanished, acked
            rnd = random.Random(w)
            names = [f"w{w}/k{i}" for i in range(3)]
            for _ in range(40):
                key = rnd.choice(names)
                data = rnd.choice(contents)
                try:
                    await put(env, key, data, rnd)
                except BlockVanished:
                    vanished += 1
                    continue
                acked += 1
                model[key] = data
                if rnd.random() < 0.75:  # churn: the last reference goes away at once
                    await env.meta.delete_object(BUCKET, key)
                    model.pop(key, None)
                # every acknowledged, undeleted object of this worker reads back whole
                for k, want in list(model.items()):
                    try:
                        got = await read_key(env, k)
                    except Exception as exc:  # noqa: BLE001 - recorded, asserted below
                        failures.append(f"{k}: {exc!r}")
                        continue
                    if got != want:
                        failures.append(f"{k}: wrong bytes")

        models: list[dict[str, bytes]] = [{} for _ in range(16)]
        gc_task = asyncio.create_task(gc())
        await asyncio.gather(*(worker(w, m) for w, m in enumerate(models)))
        stop.set()
        await gc_task

        assert acked > 50 and gc_runs > 10, (acked, gc_runs)
        # no acknowledged object that was not deleted afterwards lost a byte
        for model in models:
            for k, want in model.items():
                try:
                    got = await read_key(env, k)
                except Exception as exc:  # noqa: BLE001
                    failures.append(f"final {k}: {exc!r}")
                    continue
                if got != want:
                    failures.append(f"final {k}: wrong bytes")
        assert not failures, (
            f"{len(failures)} lost objects (vanished retries: {vanished}): {failures[:5]}"
        )

        # delete everything; GC leaves nothing behind
        for model in models:
            for k in model:
                await env.meta.delete_object(BUCKET, k)
        await gc_until_idle(env)
        assert await records(env, keys.OBJECT) == []
        assert await records(env, keys.REFCOUNT) == []
        assert await records(env, keys.GCQUEUE) == []
        leftover = await env.store.list_ids(b"\x00", b"\xff" * 33, limit=10_000)
        assert leftover == [], f"{len(leftover)} blocks left after deleting everything and GC"
    finally:
        await close_env(env)


async def test_dedup_put_that_observed_no_record_survives_a_full_gc_cycle(env0: Env) -> None:
    """The deterministic interleaving behind the race.

    B streams its body and observes "no reference record" for each block. Meanwhile A
    commits the same content, is deleted, and GC claims, deletes and forgets the blocks
    (record gone again). B's commit compares "absent" == "absent" and must not succeed
    onto deleted bytes: either it fails with BlockVanished or B is fully readable.
    """
    data = content(7, 3)
    stored_b = await env0.svc.store_body(chunks(data))  # observes: no record yet

    await put(env0, "a", data)
    await env0.meta.delete_object(BUCKET, "a")
    await gc_until_idle(env0)  # A's blocks (= B's) are deleted and their records dropped

    head_b = ObjectHead(key="b", size=stored_b.size, etag=stored_b.md5.hex())
    head_b.blocks = stored_b.blocks
    try:
        await env0.meta.put_object(BUCKET, head_b, stored_b.observed)
    except BlockVanished:
        return  # the correct outcome: the upload is retried
    missing = [
        bid.hex()[:12]
        for bid, has in zip(block_ids(data), await env0.store.has(block_ids(data)), strict=True)
        if not has
    ]
    assert not missing, f"PUT of b was acknowledged but its blocks {missing} are deleted"
    assert await read_key(env0, "b") == data


async def test_commit_retry_does_not_adopt_a_record_remade_by_another_observer(env0: Env) -> None:
    """B observed its blocks' records; GC then took the blocks, and another writer's
    observe_block made new zero-count records for them but has not written the bytes yet.
    B's commit conflicts; its retry must not take those new records as proof that the
    blocks are stored (the race test lost an object this way, 2 runs in 12)."""
    data = content(8, 2, tail=0)
    stored_b = await env0.svc.store_body(chunks(data))  # records made, blocks written
    await gc_until_idle(env0)  # unreferenced with no grace: claimed, deleted, forgotten
    for bid in block_ids(data):
        await env0.meta.observe_block(bid)  # the other writer, before its put
    assert await env0.store.has(block_ids(data)) == [False, False]

    head_b = ObjectHead(key="b", size=stored_b.size, etag=stored_b.md5.hex())
    head_b.blocks = stored_b.blocks
    with pytest.raises(BlockVanished):
        await env0.meta.put_object(BUCKET, head_b, stored_b.observed)
    with pytest.raises(ObjectNotFound):
        await env0.meta.get_object(BUCKET, "b")


# ---------------------------------------------------------------- grace and references


async def test_gc_waits_for_the_grace_period(tmp_path: Path) -> None:
    env = await open_env(tmp_path, grace_ms=1000)
    try:
        data = content(1, 3)
        await put(env, "k", data)
        t0 = time.monotonic()  # the entry is due no sooner than t0 + 1s ...
        await env.meta.delete_object(BUCKET, "k")
        t1 = time.monotonic()  # ... and no later than t1 + 1s
        assert await collect(env) == 0
        assert await env.store.has(block_ids(data)) == [True] * 4
        await asyncio.sleep(0.3)
        if time.monotonic() - t0 < 0.9:  # (a stalled machine proves nothing here)
            assert await collect(env) == 0
            assert (await env.store.stats()).blocks == 4
        await asyncio.sleep(max(0.0, t1 + 1.1 - time.monotonic()))
        assert await collect(env) == 4
        assert (await env.store.stats()).blocks == 0
        assert await records(env, keys.REFCOUNT) == []
        assert await records(env, keys.GCQUEUE) == []
    finally:
        await close_env(env)


async def test_reader_of_an_overwritten_version_keeps_working_within_grace(tmp_path: Path) -> None:
    env = await open_env(tmp_path, grace_ms=2000)
    try:
        old_data, new_data = content(1, 3), content(2, 3)
        old = await put(env, "k", old_data)
        await put(env, "k", new_data)
        await collect(env)
        assert await read_all(env, old) == old_data  # a reader still streaming the old one
        assert await read_key(env, "k") == new_data
    finally:
        await close_env(env)


async def test_grace_counts_from_the_last_release_not_the_first(tmp_path: Path) -> None:
    """A block released, re-referenced, then released again must get a full grace period
    from the second release. An older queue entry (due earlier) must not delete it."""
    grace = 1.0
    env = await open_env(tmp_path, grace_ms=int(grace * 1000))
    try:
        data = content(3, 2)
        await put(env, "a", data)
        await env.meta.delete_object(BUCKET, "a")  # first release: queued ...
        t0 = time.monotonic()  # ... and due by t0 + 1s
        await asyncio.sleep(0.6)
        head_b = await put(env, "b", data)  # referenced again
        t1 = time.monotonic()  # the second release is due between t1 + 1s ...
        await env.meta.delete_object(BUCKET, "b")
        t2 = time.monotonic()  # ... and t2 + 1s
        # Past the first release's due time, within the second's grace.
        await asyncio.sleep(max(0.0, t0 + 1.1 - time.monotonic()))
        if time.monotonic() < t1 + 0.9:  # (a stalled machine proves nothing here)
            deleted = await collect(env)
            assert deleted == 0, (
                f"GC deleted {deleted} blocks {time.monotonic() - t1:.2f}s after their last "
                f"release with a {grace}s grace period (it used the first release's entry)"
            )
            assert await read_all(env, head_b) == data  # a reader of b within grace
        await asyncio.sleep(max(0.0, t2 + 1.2 - time.monotonic()))
        await gc_until_idle(env)
        assert (await env.store.stats()).blocks == 0
    finally:
        await close_env(env)


async def test_gc_never_deletes_a_referenced_block(env0: Env) -> None:
    shared = content(4, 4)
    await put(env0, "a", shared)
    await put(env0, "b", shared)
    await env0.meta.delete_object(BUCKET, "a")
    assert await collect(env0) == 0
    assert await read_key(env0, "b") == shared
    for bid in set(block_ids(shared)):
        assert await env0.meta.refcount(bid) == 1


async def test_overwrite_releases_only_unshared_blocks(env0: Env) -> None:
    c1 = content(5, 4)
    c2 = c1[: 2 * BLOCK] + content(6, 2)  # shares its first two blocks with c1
    await put(env0, "k", c1)
    await put(env0, "k", c2)
    only_c1 = set(block_ids(c1)) - set(block_ids(c2))
    assert await collect(env0) == len(only_c1)
    assert await read_key(env0, "k") == c2
    assert sorted(await env0.store.list_ids(b"\x00", b"\xff" * 33)) == sorted(set(block_ids(c2)))


async def test_repeated_block_within_one_object(env0: Env) -> None:
    one = content(8, 1, tail=0)
    data = one * 5 + b"tail" * 10
    await put(env0, "rep", data)
    assert await env0.meta.refcount(block_id(one)) == 5
    assert await read_key(env0, "rep") == data
    await put(env0, "other", one * 2)
    await env0.meta.delete_object(BUCKET, "rep")
    await collect(env0)
    assert await env0.meta.refcount(block_id(one)) == 2
    assert await read_key(env0, "other") == one * 2


async def test_copy_keeps_blocks_after_source_is_deleted(env0: Env) -> None:
    data = content(9, 3)
    await put(env0, "src", data)

    await env0.svc.copy_object(BUCKET, "src", BUCKET, "dst")
    await env0.meta.delete_object(BUCKET, "src")
    assert await collect(env0) == 0
    assert await read_key(env0, "dst") == data
    await env0.meta.delete_object(BUCKET, "dst")
    assert await gc_until_idle(env0) == 4
    assert (await env0.store.stats()).blocks == 0


async def test_inline_objects_touch_no_blocks(env0: Env) -> None:
    await put(env0, "small", b"x" * INLINE)
    assert (await env0.store.stats()).blocks == 0
    assert await records(env0, keys.REFCOUNT) == []
    assert await read_key(env0, "small") == b"x" * INLINE


async def test_failed_upload_leaves_only_garbage_that_gc_removes(tmp_path: Path) -> None:
    """Design section 7: a failed upload leaves only garbage that GC removes."""
    env = await open_env(tmp_path, grace_ms=100)
    try:
        data = content(10, 5)

        async def cut_off() -> AsyncIterator[bytes]:
            async for c in chunks(data[: 3 * BLOCK + 10]):
                yield c
            raise ConnectionResetError("client went away")

        with pytest.raises(ConnectionResetError):
            await env.svc.put_object(BUCKET, "k", cut_off())

        def bad_md5(size: int, md5: bytes) -> None:
            raise ValueError("Content-MD5 mismatch")

        with pytest.raises(ValueError):
            await env.svc.put_object(BUCKET, "k2", chunks(content(11, 2)), verify=bad_md5)
        written = (await env.store.stats()).blocks
        assert written > 0
        await asyncio.sleep(0.2)
        await gc_until_idle(env)
        left = (await env.store.stats()).blocks
        assert left == 0, f"{left} of {written} blocks of failed uploads are never collected"
    finally:
        await close_env(env)


async def test_gc_state_survives_restart(tmp_path: Path) -> None:
    """Queue entries and counts are durable: GC after a restart still finds the garbage."""
    env = await open_env(tmp_path, grace_ms=0)
    data = content(12, 2)
    await put(env, "k", data)
    await put(env, "keep", data[:BLOCK] + os.urandom(BLOCK))
    await env.meta.delete_object(BUCKET, "k")
    await close_env(env)

    kv = LmdbKV(tmp_path / "meta", map_size=1 << 30)
    meta = MetaStore(kv, gc_grace_ms=0, upload_grace_ms=0)
    store = LmdbBlockStore(tmp_path / "n0", map_size=1 << 31)
    svc = ObjectService(meta, ReplicatedBlocks({"n0": store}), block_size=BLOCK, inline_max=INLINE)
    env = Env(kv, meta, store, svc)
    try:
        assert await gc_until_idle(env) == 2  # block 2 and the tail; block 1 is shared
        assert await read_key(env, "keep") is not None
        assert (await store.stats()).blocks == 2
    finally:
        await close_env(env)
