"""A block GC deleted while one of its holders was down (found by the fault campaign,
tests/chaos, seed 3: pause-node during GC).

GC deletes a block from every reachable node and then drops its reference record; a node
that was paused or partitioned at that moment keeps its copy, and once it is back no
record names the block: repair skipped it as garbage and GC never heard of it again, so
the copy stayed for ever. Repair now queues such a block for GC (a zero-count record, as a
writer's observe makes), and GC's next pass after the upload grace deletes it everywhere.
Real LMDB metadata and LMDB block stores; "down" is the flag membership sets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blockstore.address import block_id
from blockstore.cluster.gc import collect_garbage
from blockstore.cluster.repair import Repairer
from blockstore.cluster.replicated import ReplicatedBlocks
from blockstore.lmdb_store import LmdbBlockStore
from gateway.objects.service import ObjectService
from meta import keys
from meta.lmdb_kv import LmdbKV
from meta.store import MetaStore

NODES = ("n0", "n1", "n2")
DATA = bytes(range(256)) * 8  # 2 KiB: one block, not inline
BID = block_id(DATA)


async def _body() -> AsyncIterator[bytes]:
    yield DATA


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[MetaStore, dict, ReplicatedBlocks]]:
    kv = LmdbKV(tmp_path / "meta", map_size=1 << 30)
    meta = MetaStore(kv, gc_grace_ms=0, upload_grace_ms=0)
    stores = {n: LmdbBlockStore(tmp_path / n, map_size=1 << 28) for n in NODES}
    blocks = ReplicatedBlocks(stores, replicas=3)
    await meta.create_bucket("b", "us-east-1")
    svc = ObjectService(meta, blocks, block_size=64 << 10, inline_max=1 << 10)
    await svc.put_object("b", "k", _body())
    yield meta, stores, blocks
    for s in stores.values():
        await s.close()
    await kv.close()


async def _holders(stores: dict) -> list[str]:
    return [n for n, s in stores.items() if (await s.has([BID]))[0]]


async def test_a_copy_gc_could_not_reach_is_collected_once_its_node_is_back(parts) -> None:
    meta, stores, blocks = parts
    assert await _holders(stores) == list(NODES)
    await meta.delete_object("b", "k")
    blocks.down = {"n2"}  # paused or partitioned while GC runs
    assert await collect_garbage(meta, blocks) == 1
    assert await meta.kv.get(keys.refcount_key(BID)) is None  # GC finished: no record
    assert await _holders(stores) == ["n2"]  # ... but n2 kept its copy

    blocks.down = set()  # n2 is back
    await Repairer(meta, blocks).run_once()
    assert await _holders(stores) == ["n2"], "repair must not copy garbage back"
    assert await meta.refcount(BID) == 0 and await meta.block_known(BID)  # queued for GC
    assert await collect_garbage(meta, blocks) == 1
    assert await _holders(stores) == []
    assert await meta.kv.get(keys.refcount_key(BID)) is None


async def test_a_block_with_a_record_is_left_to_its_record(parts) -> None:
    """A block that metadata knows is not queued again: one record per block."""
    meta, stores, blocks = parts
    before = await meta.kv.get(keys.refcount_key(BID))
    await Repairer(meta, blocks).run_once()
    assert await meta.kv.get(keys.refcount_key(BID)) == before
    assert await _holders(stores) == list(NODES)
