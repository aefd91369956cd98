"""Repair against GC and deduplicating writes (issue 14, item 6).

Repair copies a block onto the layout replicas that lack it. If GC claims that block while
the copies are in flight, the copies must not outlive GC (garbage resurrected), and nothing
repair does afterwards may remove the copies of a new PUT of the same content that was
acknowledged in between. Real LMDB metadata and LMDB block stores; the repairer sees them
through gates that stop it at each of its steps after the copies, so the test decides
exactly what GC and the PUT do in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from blockstore.address import block_id
from blockstore.api import BlockStore
from blockstore.cluster.gc import collect_garbage
from blockstore.cluster.repair import Repairer
from blockstore.cluster.replicated import ReplicatedBlocks
from blockstore.lmdb_store import LmdbBlockStore
from gateway.objects.service import ObjectService
from gateway.objects.types import StoredObject
from meta.api import KV, Txn
from meta.lmdb_kv import LmdbKV
from meta.store import MetaStore

BLOCK = 64 << 10
INLINE = 1 << 10
BUCKET = "rg"
NODES = ("n0", "n1", "n2")
DATA = bytes(range(256)) * 8  # 2 KiB: one block, not inline
BID = block_id(DATA)
STEP_TIMEOUT = 10.0


@dataclass
class Gate:
    """Stops the repairer at every metadata or store operation once ``armed``: it reports
    the operation on ``arrived`` and waits for ``step``. ``copies`` arms it after that
    many block copies, so the steps start right after repair has copied."""

    copies: int
    arrived: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    step: asyncio.Queue[None] = field(default_factory=asyncio.Queue)
    armed: bool = False
    open: bool = False

    async def at(self, what: str) -> None:
        if self.armed and not self.open:
            await self.arrived.put(what)
            await self.step.get()

    def copied(self) -> None:
        self.copies -= 1
        if self.copies == 0:
            self.armed = True

    async def next_stop(self, repair: asyncio.Task[Any]) -> str | None:
        """The operation the repairer stopped at, or None if it finished instead."""
        waiter = asyncio.ensure_future(self.arrived.get())
        done, _ = await asyncio.wait(
            {waiter, repair}, timeout=STEP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter in done:
            return waiter.result()
        waiter.cancel()
        assert repair in done, "the repairer neither stopped nor finished"
        return None

    def release(self) -> None:
        self.step.put_nowait(None)

    def open_all(self) -> None:
        self.open = True
        for _ in range(100):
            self.step.put_nowait(None)


class GatedStore:
    """A real block store, as the repairer reaches it."""

    def __init__(self, inner: BlockStore, gate: Gate) -> None:
        self.inner, self.gate = inner, gate

    async def put(self, block_id_: bytes, data: Any, crc: int | None = None) -> None:
        await self.gate.at("put")
        await self.inner.put(block_id_, data, crc)
        self.gate.copied()

    async def delete(self, block_id_: bytes) -> None:
        await self.gate.at("delete")
        await self.inner.delete(block_id_)

    async def has(self, block_ids: list[bytes]) -> list[bool]:
        await self.gate.at("has")
        return await self.inner.has(block_ids)

    async def get(self, block_id_: bytes, start: int = 0, end: int | None = None) -> Any:
        await self.gate.at("get")
        return await self.inner.get(block_id_, start, end)

    def __getattr__(self, name: str) -> Any:  # list_ids, stats, close
        return getattr(self.inner, name)


class GatedKV:
    """The real metadata KV, as the repairer reaches it."""

    def __init__(self, inner: KV, gate: Gate) -> None:
        self.inner, self.gate = inner, gate
        self.max_key_size = inner.max_key_size

    async def get(self, key: bytes) -> bytes | None:
        await self.gate.at("meta get")
        return await self.inner.get(key)

    async def scan(self, *args: Any, **kwargs: Any) -> list[tuple[bytes, bytes]]:
        await self.gate.at("meta scan")
        return await self.inner.scan(*args, **kwargs)

    async def commit(self, txn: Txn) -> None:
        await self.gate.at("meta commit")
        await self.inner.commit(txn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Cluster:
    kv: LmdbKV
    meta: MetaStore
    stores: dict[str, LmdbBlockStore]
    blocks: ReplicatedBlocks  # what gateways and GC use
    svc: ObjectService
    replicas: list[str]  # the layout replicas of BID
    other: str  # the node outside BID's layout

    def repairer(self, gate: Gate) -> Repairer:
        meta = MetaStore(GatedKV(self.kv, gate), gc_grace_ms=0, upload_grace_ms=0)  # type: ignore[arg-type]
        gated = {n: GatedStore(s, gate) for n, s in self.stores.items()}
        return Repairer(meta, ReplicatedBlocks(gated, replicas=2))  # type: ignore[arg-type]

    async def holders(self) -> list[str]:
        return [n for n, s in self.stores.items() if (await s.has([BID]))[0]]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    kv = LmdbKV(tmp_path / "meta", map_size=1 << 30)
    meta = MetaStore(kv, gc_grace_ms=0, upload_grace_ms=0)
    stores = {n: LmdbBlockStore(tmp_path / n, map_size=1 << 28) for n in NODES}
    blocks = ReplicatedBlocks(stores, replicas=2)
    svc = ObjectService(meta, blocks, block_size=BLOCK, inline_max=INLINE)
    await meta.create_bucket(BUCKET, "us-east-1")
    replicas = blocks.placement(BID)
    other = next(n for n in NODES if n not in replicas)
    yield Cluster(kv, meta, stores, blocks, svc, replicas, other)
    for s in stores.values():
        await s.close()
    await kv.close()


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def put(c: Cluster, key: str) -> StoredObject:
    return await c.svc.put_object(BUCKET, key, body(DATA))


async def read(c: Cluster, key: str) -> bytes:
    head = await c.meta.get_object(BUCKET, key)
    return b"".join([chunk async for chunk in c.svc.read(head)])


async def deleted_object_held_off_layout(c: Cluster) -> None:
    """An object whose block only the node outside its layout holds (an old owner after
    a move), then deleted: its block is due for GC, and repair would copy it back."""
    await put(c, "old")
    await c.stores[c.other].put(BID, DATA)
    for n in c.replicas:
        await c.stores[n].delete(BID)
    await c.meta.delete_object(BUCKET, "old")
    assert await c.holders() == [c.other]


async def gc_claim(c: Cluster) -> list[tuple[bytes, bytes, bytes]]:
    """GC's first half (collect_garbage): claim every due block."""
    claims = []
    for qkey, bid, queued in await c.meta.gc_due():
        claim = await c.meta.gc_claim(qkey, bid, queued)
        if claim is not None:
            claims.append((qkey, bid, claim))
    assert [bid for _, bid, _ in claims] == [BID]
    return claims


async def gc_delete(c: Cluster, claims: list[tuple[bytes, bytes, bytes]]) -> None:
    """GC's second half: delete the claimed blocks' bytes, then their records."""
    for qkey, bid, claim in claims:
        await c.blocks.delete(bid)
        await c.meta.gc_finish(qkey, bid, claim)


async def gc_until_idle(c: Cluster) -> None:
    for _ in range(20):
        await c.meta.journal.run()
        if await collect_garbage(c.meta, c.blocks) == 0 and not await c.meta.gc_due():
            return


async def test_repair_never_removes_the_copies_of_a_put_acknowledged_after_gc(
    cluster: Cluster,
) -> None:
    """Repair copies a deleted object's block; GC claims it, deletes it and forgets it; a
    new PUT of the same content is acknowledged. Whatever repair does next, the new
    object stays readable (before the fix repair "took back" its copies, which by then
    were the new object's only ones)."""
    c = cluster
    await deleted_object_held_off_layout(c)
    gate = Gate(copies=len(c.replicas))
    repair = asyncio.create_task(cluster.repairer(gate).run_once())

    stop = await gate.next_stop(repair)  # copies made; repair is about to check metadata
    assert stop is not None, "repair finished without copying"
    claims = await gc_claim(c)  # GC claims the block now
    gate.release()
    stop = await gate.next_stop(repair)  # repair's next step, having seen the claim
    await gc_delete(c, claims)  # GC deletes the bytes everywhere and drops the record
    assert await c.holders() == []
    new = await put(c, "new")  # acknowledged: written to the layout replicas
    assert sorted(await c.holders()) == sorted(c.replicas)
    gate.open_all()
    stats = await asyncio.wait_for(repair, STEP_TIMEOUT)

    assert await read(c, "new") == DATA, (stop, stats)
    assert sorted(await c.holders()) == sorted(c.replicas), stats
    # Nothing leaks: once the new object is deleted, GC leaves no copy anywhere.
    await c.meta.delete_object(BUCKET, new.key)
    await gc_until_idle(c)
    assert await c.holders() == []


async def test_copies_that_raced_with_gc_are_collected(cluster: Cluster) -> None:
    """Repair copies a block GC then claims, deletes and forgets before repair looks
    again: the copies landed after GC's delete, and must not stay behind as garbage that
    no record leads GC to."""
    c = cluster
    await deleted_object_held_off_layout(c)
    gate = Gate(copies=len(c.replicas))
    repair = asyncio.create_task(cluster.repairer(gate).run_once())

    stop = await gate.next_stop(repair)
    assert stop is not None, "repair finished without copying"
    claims = await gc_claim(c)
    await c.stores[c.other].delete(BID)  # GC's delete reached the old copy only ...
    await c.meta.gc_finish(*claims[0])  # ... before repair's copies landed, and is done
    assert sorted(await c.holders()) == sorted(c.replicas)
    gate.open_all()
    await asyncio.wait_for(repair, STEP_TIMEOUT)

    await gc_until_idle(c)
    assert await c.holders() == [], "repair's copies outlived GC"


async def test_surplus_copy_is_dropped_only_while_the_replicas_hold_the_block(
    cluster: Cluster,
) -> None:
    """Repair drops a copy outside the layout once every layout replica holds the block.
    What the replicas held is listed at the start of the pass; a replica that lost its
    copy since must stop the drop, or the block lives on fewer nodes than the layout's."""
    c = cluster
    await put(c, "live")
    await c.stores[c.other].put(BID, DATA)  # a spare copy outside the layout
    gate = Gate(copies=0, armed=True)
    repair = asyncio.create_task(cluster.repairer(gate).run_once())

    # The pass has listed the nodes (each holds the block) and stops at its next step,
    # when one layout replica loses its copy.
    assert await gate.next_stop(repair) is not None, "repair finished without a step"
    await c.stores[c.replicas[0]].delete(BID)
    gate.open_all()
    await asyncio.wait_for(repair, STEP_TIMEOUT)

    assert await read(c, "live") == DATA
    assert len(await c.holders()) == 2, await c.holders()
