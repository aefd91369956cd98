"""Scrub: a storage node re-hashes every block it stores, at a bounded rate.

Reads check a block's stored CRC32C, which catches a block that rotted on disk when it is
read; scrub also finds blocks nobody reads, and checks the full BLAKE3 id. A block that
fails either check is deleted from this node, so it is never served, and the repair pass
(blockstore/cluster/repair.py) copies a good replica back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from blockstore.address import block_id_async
from blockstore.api import BlockCorrupt, BlockNotFound, BlockStore, all_ids

log = logging.getLogger("cairn.scrub")


@dataclass
class ScrubStats:
    checked: int = 0
    bytes: int = 0
    bad: int = 0


async def scrub_once(store: BlockStore, rate: float) -> ScrubStats:
    """One pass over every block, reading at most ``rate`` bytes per second."""
    stats = ScrubStats()
    started = time.monotonic()
    async for page in all_ids(store, 1000):
        for bid in page:
            try:
                data = await store.get(bid)
                good = await block_id_async(data) == bid
                size = len(data)
                del data
            except BlockNotFound:
                continue  # deleted meanwhile (GC)
            except BlockCorrupt:
                good, size = False, 0
            stats.checked += 1
            stats.bytes += size
            if not good:
                stats.bad += 1
                log.warning(
                    "scrub: block %s is corrupt: deleted, repair will restore it", bid.hex()
                )
                await store.delete(bid)
            # Pace: never ahead of `rate` bytes per second since the pass began.
            ahead = stats.bytes / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
    return stats


async def scrub_loop(store: BlockStore, interval: float, rate: float) -> None:
    """A pass every ``interval`` seconds (counted from the end of the previous one)."""
    while True:
        await asyncio.sleep(interval)
        try:
            stats = await scrub_once(store, rate)
            if stats.bad:
                log.warning("scrub: %d of %d blocks were corrupt", stats.bad, stats.checked)
        except Exception:  # noqa: BLE001 - the node keeps serving; next pass retries
            log.exception("scrub pass failed")
