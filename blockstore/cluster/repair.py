"""Repair and rebalance: every block on the R nodes its partition is assigned to.

A node that left the layout took its copies with it, and a node that joined holds none of
the partitions it was given. Both are fixed the same way: list what every live node holds
(paged, 10,000 ids per request), copy each block that a live layout replica lacks from a
node that has it (the receiving node checks the bytes against the id), and once every
layout replica holds a block, drop the copies that live elsewhere (the old owners after a
move, spare copies written around a full or dead node). The id lists are held in memory
for the pass: 32 bytes per block per node.

Only blocks that metadata still knows (a reference record that GC has not claimed) are
copied, and a copy that raced with GC is taken back, so repair never resurrects garbage.
It is a step of the housekeeper (cairn/housekeeper.py), a bounded number of bytes per pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from blockstore.api import BlockStoreError, all_ids
from blockstore.cluster.placement import partition_of
from blockstore.cluster.replicated import ReplicatedBlocks
from meta.store import MetaStore

log = logging.getLogger("cairn.repair")


@dataclass
class RepairStats:
    partitions: int = 0  # partitions that hold any block
    copied: int = 0
    copied_bytes: int = 0
    dropped: int = 0
    skipped_garbage: int = 0
    errors: int = 0
    complete: bool = True  # False when the byte budget cut the pass short


class Repairer:
    def __init__(self, meta: MetaStore, blocks: ReplicatedBlocks) -> None:
        self.meta = meta
        self.blocks = blocks

    async def run_once(self, max_bytes: int = 1 << 30) -> RepairStats:
        """One pass over every block the live nodes hold; stops after copying max_bytes."""
        stats = RepairStats()
        layout = self.blocks.layout
        if layout is None or len(self.blocks.stores) < 2:
            return stats
        live = [n for n in self.blocks.stores if n not in self.blocks.down]
        held: dict[str, set[bytes]] = {}
        for node in live:
            try:
                held[node] = await self._list(node)
            except (BlockStoreError, OSError) as exc:
                log.warning("repair: cannot list %s (%s); skipping this pass", node, exc)
                stats.errors += 1
                return stats
        everything = sorted(set().union(*held.values())) if held else []
        stats.partitions = len({partition_of(b) for b in everything})
        for bid in everything:
            if stats.copied_bytes >= max_bytes:
                stats.complete = False
                break
            try:
                await self._block(bid, held, stats)
            except (BlockStoreError, OSError) as exc:
                stats.errors += 1
                log.warning("repair of block %s failed: %s", bid.hex(), exc)
        if stats.copied or stats.dropped:
            log.warning(
                "repair: copied %d blocks (%d MiB), dropped %d misplaced copies",
                stats.copied, stats.copied_bytes >> 20, stats.dropped,
            )  # fmt: skip
        return stats

    async def _block(self, bid: bytes, held: dict[str, set[bytes]], stats: RepairStats) -> None:
        layout = self.blocks.layout
        assert layout is not None
        replicas = [n for n in layout.nodes_of(bid) if n in self.blocks.stores]
        live_replicas = [n for n in replicas if n in held]
        missing = [n for n in live_replicas if bid not in held[n]]
        if missing:
            if not await self.meta.block_known(bid):
                stats.skipped_garbage += 1
                return
            source = next(n for n in held if bid in held[n])
            data = await self.blocks.stores[source].get(bid)
            for node in missing:
                await self.blocks.stores[node].put(bid, data)
                held[node].add(bid)
                stats.copied += 1
                stats.copied_bytes += len(data)
            if not await self.meta.block_known(bid):  # GC claimed it meanwhile: take ours back
                for node in missing:
                    await self.blocks.stores[node].delete(bid)
                return
        # Every layout replica is live and holds it: copies elsewhere are surplus.
        if len(live_replicas) == len(replicas) == layout.replicas:
            for node in held:
                if node not in replicas and bid in held[node]:
                    await self.blocks.stores[node].delete(bid)
                    held[node].discard(bid)
                    stats.dropped += 1

    async def _list(self, node: str) -> set[bytes]:
        return {bid async for page in all_ids(self.blocks.stores[node]) for bid in page}
