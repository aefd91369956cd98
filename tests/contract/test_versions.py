"""Versioned buckets on every KV backend (LMDB and a real etcd): the history index beside
the current-version index, block references that each version holds once, and releases of
removed versions through the journal, even for versions too big for one transaction and
even when the writer dies between any two of its transactions. ListObjectVersions is
checked page by page against a model of the history."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from meta import keys
from meta.api import KV
from meta.errors import DeleteMarkerFound, VersionNotFound
from meta.records import ObjectHead
from meta.store import MetaStore
from tests.contract.test_staged_commits import Crash, DyingKV, counts, head_of, ids, observe

BUCKET = "versioned"


async def enable(store: MetaStore, status: str = "Enabled") -> None:
    def apply(rec) -> None:
        rec.config["versioning"] = status

    await store.update_bucket(BUCKET, apply)


@pytest.fixture
async def store(kv: KV) -> MetaStore:
    s = MetaStore(kv)
    await s.create_bucket(BUCKET, "us-east-1")
    await enable(s)
    return s


async def check_invariants(store: MetaStore) -> None:
    """Every reference count equals the references of the versions that exist (each
    history record once, plus heads written before versioning); no journal record is
    left; every block-list page belongs to a version; each current head is the newest
    non-marker version of its key."""
    kv = store.kv
    await store.journal.run()
    assert await store.journal.pending() == []
    expected: Counter[bytes] = Counter()
    live = set()
    newest: dict[str, ObjectHead] = {}
    for _, raw in await kv.scan(keys.VERSION, keys.prefix_end(keys.VERSION), limit=100_000):
        head = ObjectHead.from_bytes(raw)
        newest.setdefault(head.key, head)
        if not head.marker:
            live.add(head.version)
            expected.update(b for b, _ in await store.block_list(head))
    for _, raw in await kv.scan(keys.OBJECT, keys.prefix_end(keys.OBJECT), limit=100_000):
        head = ObjectHead.from_bytes(raw)
        if not head.order:
            live.add(head.version)
            expected.update(b for b, _ in await store.block_list(head))
        else:
            assert newest[head.key].order == head.order, "current head is not the newest"
    got = await counts(kv)
    wrong = {b: (got.get(b, 0), expected[b]) for b in set(got) | set(expected)}
    wrong = {b: v for b, v in wrong.items() if v[0] != v[1]}
    assert not wrong, f"{len(wrong)} reference counts disagree, e.g. {next(iter(wrong.values()))}"
    for k, _ in await kv.scan(keys.PAGE, keys.prefix_end(keys.PAGE), limit=100_000):
        assert k[1:17] in live, "a block-list page outlived its version"


async def put(store: MetaStore, key: str, blocks: list[bytes]) -> ObjectHead:
    head = head_of(key, blocks)
    await store.put_object(BUCKET, head, await observe(store, blocks))
    return head


async def test_versions_hold_their_blocks_until_removed(store: MetaStore) -> None:
    big, small = ids(300), ids(3)
    v1 = await put(store, "k", big)  # staged and paged: too big for one transaction
    v2 = await put(store, "k", small)
    assert v1.vid != v2.vid and len(v1.vid) == 32
    got = await counts(store.kv)
    assert all(got[b] == 1 for b in big + small)  # the overwrite released nothing
    await check_invariants(store)
    old = (await store.get_version(BUCKET, "k", v1.vid))[0]
    assert [b for b, _ in await store.block_list(old)] == big
    await store.delete_version(BUCKET, "k", v1.vid)
    got = await counts(store.kv)
    assert all(got[b] == 0 for b in big) and all(got[b] == 1 for b in small)
    due = await store.kv.scan(keys.GCQUEUE, keys.prefix_end(keys.GCQUEUE), limit=10_000)
    assert set(big) <= {k[9:] for k, _ in due}  # queued for GC
    with pytest.raises(VersionNotFound):
        await store.get_version(BUCKET, "k", v1.vid)
    await check_invariants(store)


async def test_markers_and_promotion(store: MetaStore) -> None:
    v1 = await put(store, "k", ids(2))
    _, marker = await store.delete_current(BUCKET, "k")
    assert marker is not None and marker.marker
    with pytest.raises(DeleteMarkerFound):
        await store.get_version(BUCKET, "k", None)
    assert (await store.list_objects(BUCKET))[0] == []
    await store.delete_version(BUCKET, "k", marker.vid)
    assert (await store.get_object(BUCKET, "k")).vid == v1.vid
    await check_invariants(store)


async def test_suspended_null_version_replaced_and_released(store: MetaStore) -> None:
    await enable(store, "Suspended")
    first, second = ids(2), ids(2)
    await put(store, "k", first)
    await put(store, "k", second)
    got = await counts(store.kv)
    assert all(got[b] == 0 for b in first) and all(got[b] == 1 for b in second)
    await check_invariants(store)


async def test_unversioned_head_becomes_the_null_version(kv: KV) -> None:
    store = MetaStore(kv)
    await store.create_bucket(BUCKET, "us-east-1")
    old = ids(2)
    await put(store, "k", old)
    await enable(store)
    await put(store, "k", ids(2))
    null = (await store.get_version(BUCKET, "k", "null"))[0]
    assert [b for b, _ in null.blocks or []] == old
    await check_invariants(store)
    await store.delete_version(BUCKET, "k", "null")
    got = await counts(kv)
    assert all(got[b] == 0 for b in old)
    await check_invariants(store)


@pytest.mark.parametrize("size", [3, 300])
async def test_crash_at_every_step_of_a_version_delete(kv: KV, size: int) -> None:
    """Kill the deleter after each of its transactions: the version is there or gone,
    and once housekeeping ran the counts add up."""
    steps = 0
    while True:
        store = MetaStore(kv)
        bucket_rows = await kv.scan(keys.BUCKET, keys.prefix_end(keys.BUCKET), limit=10)
        if not bucket_rows:
            await store.create_bucket(BUCKET, "us-east-1")
            await enable(store)
        head = await put(store, f"k{steps}", ids(size))
        dying = MetaStore(DyingKV(kv, steps))  # type: ignore[arg-type]
        try:
            await dying.delete_version(BUCKET, head.key, head.vid)
            finished = True
        except Crash:
            finished = False
        await check_invariants(MetaStore(kv))
        if finished:
            break
        steps += 1
    assert steps >= 1


def _model_pages(model: list[tuple[str, str, bool]], size: int):
    return [model[i : i + size] for i in range(0, len(model), size)]


async def test_list_versions_against_a_model(store: MetaStore) -> None:
    """Random writes, markers and version deletes; every page size lists the model's
    history: keys in order, newest first, the first of each key the latest."""
    rnd = random.Random(7)
    model: dict[str, list[tuple[str, bool]]] = {}
    names = ["a", "a/b", "a/c", "b", "ü", "c/d/e"]
    for _ in range(60):
        key = rnd.choice(names)
        op = rnd.random()
        if op < 0.6:
            head = await put(store, key, [])
            model.setdefault(key, []).insert(0, (head.vid, False))
        elif op < 0.8:
            _, marker = await store.delete_current(BUCKET, key)
            assert marker is not None
            model.setdefault(key, []).insert(0, (marker.vid, True))
        elif model.get(key):
            vid, _ = model[key].pop(rnd.randrange(len(model[key])))
            await store.delete_version(BUCKET, key, vid)
    expected = [
        (k, vid, i == 0, dm)
        for k in sorted(model, key=str.encode)
        for i, (vid, dm) in enumerate(model[k])
    ]
    for size in (1, 3, 7, 1000):
        got = []
        km, vm = "", ""
        while True:
            page = await store.list_versions(BUCKET, "", "", km, vm, size)
            got += [
                (e.head.key, e.head.version_id, e.head.is_latest, e.head.marker)
                for e in page.entries
                if e.head is not None
            ]
            if not page.truncated:
                break
            km, vm = page.next_key or "", page.next_version or ""
        assert got == expected
    page = await store.list_versions(BUCKET, "", "/", "", "", 1000)
    prefixes = [e.key for e in page.entries if e.head is None]
    assert prefixes == [p for p in ("a/", "c/") if any(k.startswith(p) for k in model)]
    await check_invariants(store)
