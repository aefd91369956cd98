"""The state of the store as metrics: per-bucket usage, the GC backlog, housekeeping
progress, the storage nodes' capacity and use, and leadership.

A snapshot is a plain dict (``snapshot``), rendered by gateway/metrics.py's
``StateCollector``. It reads only counters and small records: the usage counters
(meta.usage, never a scan of objects), a bounded count of the GC queue, each block
store's stats, and the housekeeper's own progress. Where it is taken:

- ``cairn serve``: worker 0 (the housekeeper's process) writes one every
  SNAPSHOT_SECONDS into the metrics directory; the supervising process serves it.
- ``cairn meta``: taken when /metrics is scraped, kept SNAPSHOT_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from blockstore.cluster.replicated import ReplicatedBlocks
from cairn.housekeeper import Housekeeper
from meta import keys
from meta.store import MetaStore

SNAPSHOT_SECONDS = 5.0
GC_COUNT_LIMIT = 100_000  # the backlog gauge saturates here rather than scan further
STATS_TIMEOUT = 2.0


async def snapshot(
    meta: MetaStore, blocks: ReplicatedBlocks, keeper: Housekeeper | None, leader: bool
) -> dict[str, Any]:
    usage = await meta.all_usage()
    queue = await meta.kv.scan(keys.GCQUEUE, keys.prefix_end(keys.GCQUEUE), GC_COUNT_LIMIT)
    return {
        "time": time.time(),
        "leader": int(leader),
        "buckets": {b: [u.objects, u.bytes] for b, u in usage.items()},
        "gc_backlog": len(queue),
        "nodes": await _nodes(blocks),
        "housekeeping": _housekeeping(keeper) if keeper is not None else {},
    }


async def _nodes(blocks: ReplicatedBlocks) -> dict[str, dict[str, int]]:
    async def one(name: str) -> tuple[str, dict[str, int]]:
        up = int(name not in blocks.down)
        try:
            s = await asyncio.wait_for(blocks.stores[name].stats(), STATS_TIMEOUT)
        except Exception:  # noqa: BLE001 - an unreachable node reports as down
            return name, {"up": 0}
        return name, {"up": up, "capacity": s.capacity, "used": s.used, "blocks": s.blocks}

    return dict(await asyncio.gather(*(one(n) for n in list(blocks.stores))))


def _housekeeping(keeper: Housekeeper) -> dict[str, float]:
    p, r = keeper.progress, keeper.repairer.current
    return {
        "gc_passes": p.gc_passes,
        "gc_deleted": p.gc_deleted,
        "usage_folded": p.usage_folded,
        "repair_passes": p.repair_passes,
        "repair_running": int(p.repair_running),
        "repair_last_finished": p.repair_last_finished,
        "repair_total": r.total,
        "repair_checked": r.checked,
        "repair_copied": r.copied,
        "repair_copied_bytes": r.copied_bytes,
        "repair_dropped": r.dropped,
        "repair_errors": r.errors,
        "under_replicated": r.under_replicated,
        "repair_copied_all": p.repair_copied,
        "under_replicated_all": p.under_replicated,
        "blocks_missing": keeper.repairer.missing,
    }


class CachedSnapshot:
    """A snapshot taken at most every SNAPSHOT_SECONDS, for a process that serves its
    own /metrics (cairn meta)."""

    def __init__(self, take: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self.take = take
        self.value: dict[str, Any] | None = None
        self.until = 0.0

    async def get(self) -> dict[str, Any] | None:
        if time.monotonic() >= self.until:
            self.until = time.monotonic() + SNAPSHOT_SECONDS
            # The metadata unreachable: keep the last snapshot (its "time" tells its age).
            with contextlib.suppress(Exception):
                self.value = await self.take()
        return self.value
