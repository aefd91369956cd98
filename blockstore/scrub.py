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
from dataclasses import dataclass, field

from blockstore.address import block_id_async
from blockstore.api import BlockCorrupt, BlockNotFound, BlockStore, all_ids

log = logging.getLogger("cairn.scrub")


@dataclass
class ScrubStats:
    checked: int = 0
    bytes: int = 0
    bad: int = 0


@dataclass
class ScrubProgress:
    """What a node's scrub has done, for its metrics: finished passes, and the current
    (or last) pass's counts, which the pass updates as it goes."""

    passes: int = 0
    running: bool = False
    last_finished: float = 0.0  # unix time; 0 before the first pass ends
    current: ScrubStats = field(default_factory=ScrubStats)


async def scrub_once(store: BlockStore, rate: float, stats: ScrubStats | None = None) -> ScrubStats:
    """One pass over every block, reading at most ``rate`` bytes per second; ``stats``
    (a fresh one by default) is updated as the pass goes, for progress reports."""
    stats = stats if stats is not None else ScrubStats()
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


async def scrub_loop(
    store: BlockStore, interval: float, rate: float, progress: ScrubProgress | None = None
) -> None:
    """A pass every ``interval`` seconds (counted from the end of the previous one)."""
    progress = progress if progress is not None else ScrubProgress()
    while True:
        await asyncio.sleep(interval)
        try:
            progress.current, progress.running = ScrubStats(), True
            stats = await scrub_once(store, rate, progress.current)
            progress.passes += 1
            progress.last_finished = time.time()
            if stats.bad:
                log.warning("scrub: %d of %d blocks were corrupt", stats.bad, stats.checked)
        except Exception:  # noqa: BLE001 - the node keeps serving; next pass retries
            log.exception("scrub pass failed")
        finally:
            progress.running = False
