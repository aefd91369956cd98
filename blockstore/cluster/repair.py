"""Repair and rebalance: every block on the R nodes its partition is assigned to.

A node that left the layout took its copies with it, and a node that joined holds none of
the partitions it was given. Both are fixed the same way: list what every live node holds
(paged, 10,000 ids per request), copy each block that a live layout replica lacks from a
node that has it (the receiving node checks the bytes against the id), and once every
layout replica holds a block, drop the copies that live elsewhere (the old owners after a
move, spare copies written around a full or dead node). The id lists are held in memory
for the pass: 32 bytes per block per node.

Only blocks that metadata still knows (a reference record that GC has not claimed) are
copied; a block some node holds that has no record at all (GC deleted it while that node
was unreachable, then dropped the record) is queued for GC again instead. Repair never
takes a copy back: GC may claim the block while the copies are in
flight, and by the time repair could notice, a new PUT of the same content may have been
acknowledged onto those very nodes (issue 14, item 6). Instead, after copying, repair
observes the block's reference record the way a writer does (MetaStore.observe_block):
it waits out a claim in progress and creates a zero-count record, queued for GC, if GC
has finished. Either way a record read after the copies landed exists, and whatever GC
does to it later (claim, then delete everywhere) happens after them, so GC takes the
copies of garbage under its own claim, and a concurrent PUT's commit is guarded by it.

A copy outside the layout is dropped only while every layout replica holds the block,
asked again right before (the listing is from the start of the pass). Only GC deletes
from layout replicas, so such a drop leaves the block on R layout replicas, or on the
W that a PUT acknowledged meanwhile wrote; it never needs GC's claim.

It is a step of the housekeeper (cairn/housekeeper.py), a bounded number of bytes per pass.

Missing blocks: a block with no live copy at all is in no node's listing, so the walk
above never meets it. After the walk, the pass pages through the reference records
(MISSING_PAGE at a time) and counts each block that committed versions refer to (count
above zero) but no live node listed, asking the nodes again first (a PUT may have
committed since the listing). It counts and logs them; nothing can copy them back. This
is the one place the count is made, once per pass, never per scrape.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from blockstore.api import BlockStoreError, all_ids
from blockstore.cluster.placement import partition_of
from blockstore.cluster.replicated import ReplicatedBlocks
from meta import keys
from meta.errors import BlockVanished
from meta.records import RefCount
from meta.store import MetaStore

log = logging.getLogger("cairn.repair")
MISSING_PAGE = 1000  # reference records read per metadata call when counting missing blocks


@dataclass
class RepairStats:
    partitions: int = 0  # partitions that hold any block
    copied: int = 0
    copied_bytes: int = 0
    dropped: int = 0
    skipped_garbage: int = 0
    errors: int = 0
    complete: bool = True  # False when the byte budget cut the pass short
    # Progress and findings, for metrics: blocks the pass will look at and has looked at,
    # and known blocks it found short of a layout replica (before copying them back).
    total: int = 0
    checked: int = 0
    under_replicated: int = 0
    # Referenced blocks that no live node holds: no copy is left to repair from.
    missing: int = 0


class Repairer:
    def __init__(self, meta: MetaStore, blocks: ReplicatedBlocks) -> None:
        self.meta = meta
        self.blocks = blocks
        self.current = RepairStats()  # the pass running, or the last one (metrics)
        # Missing blocks as the last pass that got to count them found (a gauge that does
        # not drop to zero while the next pass walks, nor when a pass cannot list a node).
        self.missing = 0

    async def run_once(self, max_bytes: int = 1 << 30) -> RepairStats:
        """One pass over every block the live nodes hold; stops after copying max_bytes."""
        stats = self.current = RepairStats()
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
        listed: set[bytes] = set().union(*held.values()) if held else set()
        everything = sorted(listed)
        stats.partitions = len({partition_of(b) for b in everything})
        stats.total = len(everything)
        for bid in everything:
            stats.checked += 1
            if stats.copied_bytes >= max_bytes:
                stats.complete = False
                break
            try:
                await self._block(bid, held, stats)
            except (BlockStoreError, OSError) as exc:
                stats.errors += 1
                log.warning("repair of block %s failed: %s", bid.hex(), exc)
        stats.missing = self.missing = await self._count_missing(listed, live)
        if stats.missing:
            log.warning("repair: %d referenced blocks have no copy on any live node", stats.missing)
        if stats.copied or stats.dropped:
            log.info(
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
                # A copy GC could not reach (its node was down) outlives the record GC
                # dropped: queue it again, or nothing ever deletes it.
                await self.meta.refs.queue_unknown(bid)
                return
            stats.under_replicated += 1
            await self._copy(bid, missing, held, stats)
        # Every layout replica is live and holds it: copies elsewhere are surplus.
        if len(live_replicas) == len(replicas) == layout.replicas:
            await self._drop_surplus(bid, replicas, held, stats)

    async def _copy(
        self, bid: bytes, missing: list[str], held: dict[str, set[bytes]], stats: RepairStats
    ) -> None:
        source = next(n for n in held if bid in held[n])
        data = await self.blocks.stores[source].get(bid)
        for node in missing:
            await self.blocks.stores[node].put(bid, data)
            held[node].add(bid)
            stats.copied += 1
            stats.copied_bytes += len(data)
        try:
            # After the copies: a record GC acts on only after now (see the module doc).
            await self.meta.observe_block(bid)
        except BlockVanished:
            # Claimed for seconds: a GC that died mid-delete, which the next GC run
            # finishes by deleting everywhere again, these copies included.
            stats.errors += 1
            log.warning("repair: block %s stays claimed by GC", bid.hex())

    async def _drop_surplus(
        self, bid: bytes, replicas: list[str], held: dict[str, set[bytes]], stats: RepairStats
    ) -> None:
        surplus = [n for n in held if n not in replicas and bid in held[n]]
        if not surplus:
            return
        layout = self.blocks.layout
        for node in replicas:  # held is from the start of the pass: ask again
            if not (await self.blocks.stores[node].has([bid]))[0]:
                return
        if self.blocks.layout is not layout:
            return  # the layout moved meanwhile: the next pass decides
        for node in surplus:
            await self.blocks.stores[node].delete(bid)
            held[node].discard(bid)
            stats.dropped += 1

    async def _count_missing(self, listed: set[bytes], live: list[str]) -> int:
        """Blocks that committed versions refer to and no live node holds (see the module
        doc): candidates from one walk of the reference records, confirmed by asking."""
        start, end = keys.REFCOUNT, keys.prefix_end(keys.REFCOUNT)
        missing = 0
        while True:
            page = await self.meta.kv.scan(start, end, MISSING_PAGE)
            unlisted = [
                k[len(keys.REFCOUNT) :] for k, v in page
                if RefCount.from_bytes(v).count > 0 and k[len(keys.REFCOUNT) :] not in listed
            ]  # fmt: skip
            if unlisted:
                missing += await self._held_nowhere(unlisted, live)
            if len(page) < MISSING_PAGE:
                return missing
            start = page[-1][0] + b"\0"

    async def _held_nowhere(self, bids: list[bytes], live: list[str]) -> int:
        """How many of bids no live node holds now; an unreachable node counts as not
        holding them, as in the listing."""
        nowhere = [True] * len(bids)
        for node in live:
            try:
                found = await self.blocks.stores[node].has(bids)
            except (BlockStoreError, OSError):
                continue
            nowhere = [n and not f for n, f in zip(nowhere, found, strict=True)]
        return sum(nowhere)

    async def _list(self, node: str) -> set[bytes]:
        return {bid async for page in all_ids(self.blocks.stores[node]) for bid in page}
