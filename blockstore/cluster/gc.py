"""Garbage collection: delete the bytes of blocks that no version has referred to for the
grace period.

GC claims a block's reference record (count = DELETING, compare-and-swap) before it deletes
the bytes from every store, so a PUT that deduplicated onto the block in between fails its
commit instead of referring to deleted bytes (docs/architecture.md, "Writes, visibility and
GC"). It is one step of the housekeeper, after journal recovery, which turns crashed
releases and dead writers' stages into queued blocks.
"""

from __future__ import annotations

from blockstore.cluster.replicated import ReplicatedBlocks
from meta.store import MetaStore


async def collect_garbage(meta: MetaStore, blocks: ReplicatedBlocks, limit: int = 1000) -> int:
    """Delete up to limit due blocks; returns how many were deleted."""
    deleted = 0
    for qkey, bid, queued in await meta.gc_due(limit):
        claim = await meta.gc_claim(qkey, bid, queued)
        if claim is None:
            continue
        await blocks.delete(bid)
        await meta.gc_finish(qkey, bid, claim)
        deleted += 1
    return deleted
