"""`cairn admin gc|repair|scrub run --wait`: one pass of a background job, now, with a
progress bar.

The pass runs in this process, against the same metadata and block stores the housekeeper
uses, rather than asking the leader to run one: nothing new to coordinate, and each job is
already safe beside the housekeeper's own pass. GC claims each block's reference record
with a compare-and-swap before deleting (blockstore/cluster/gc.py), so two collectors never
both act on one block; repair's copies are idempotent puts, and it drops a misplaced copy
only after asking every layout replica again (blockstore/cluster/repair.py); scrub reads
and checks each block, deleting only one whose bytes do not match its id. The command
always waits for the pass to end (`--wait` says so in scripts); Ctrl-C stops it between
blocks, leaving nothing half done.

Scrub here is the pass a node runs on its own schedule (`--scrub-interval`), run at once
on every node (a cluster: over the node API, which checks each block's CRC on the node
and its BLAKE3 id here).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from blockstore.cluster.gc import collect_garbage
from blockstore.cluster.placement import Layout
from blockstore.cluster.repair import Repairer
from blockstore.cluster.replicated import ReplicatedBlocks
from blockstore.scrub import ScrubStats, scrub_once
from cairn.block_view import BlockView, open_blocks
from cairn.status import count_prefix
from meta import keys
from meta.api import KV
from meta.nodes import NodeRegistry
from meta.records import now_ms
from meta.store import MetaStore

GC_BATCH = 100  # blocks GC deletes between progress updates
SCRUB_RATE = 200e6  # bytes per second a scrub run from the CLI reads, per node


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), disable=quiet, transient=False,
    )  # fmt: skip


async def _replicated(kv: KV, view: BlockView) -> ReplicatedBlocks:
    """The block stores as the housekeeper sees them: the installed layout, if any."""
    blocks = ReplicatedBlocks(view.stores, replicas=view.replicas)
    blocks.down = set(view.down)
    current, previous, _ = await NodeRegistry(kv).layout()
    if current is not None:
        blocks.set_layout(
            Layout.from_dict(current), Layout.from_dict(previous) if previous else None
        )
    return blocks


async def _gc(kv: KV, blocks: ReplicatedBlocks, bar: Progress) -> dict[str, Any]:
    meta = MetaStore(kv)
    recovered = await meta.journal.run()
    due = await count_prefix(kv, keys.GCQUEUE, keys.GCQUEUE + keys.u64(now_ms() + 1))
    task = bar.add_task("gc: blocks due", total=due)
    deleted = 0
    while True:
        n = await collect_garbage(meta, blocks, limit=GC_BATCH)
        deleted += n
        bar.update(task, completed=min(deleted, due))
        if n < GC_BATCH:
            break
    bar.update(task, completed=due)
    return {"journal_entries_recovered": recovered, "due": due, "deleted": deleted}


class _CountingRepairer(Repairer):
    """Repair that advances a progress bar per block it looks at."""

    def __init__(self, meta: MetaStore, blocks: ReplicatedBlocks, tick: Callable[[], None]):
        super().__init__(meta, blocks)
        self._tick = tick

    async def _block(self, bid: bytes, held: dict[str, set[bytes]], stats: Any) -> None:
        await super()._block(bid, held, stats)
        self._tick()


async def _repair(kv: KV, blocks: ReplicatedBlocks, bar: Progress) -> dict[str, Any]:
    task = bar.add_task("repair: blocks looked at", total=None)
    repairer = _CountingRepairer(MetaStore(kv), blocks, lambda: bar.advance(task))
    stats = await repairer.run_once(max_bytes=1 << 62)
    bar.update(task, total=bar.tasks[task].completed)
    return {k: v for k, v in vars(stats).items()}


async def _scrub(view: BlockView, bar: Progress) -> dict[str, Any]:
    results: dict[str, Any] = {}

    async def one(name: str) -> None:
        store = view.stores[name]
        total = (await store.stats()).blocks
        task = bar.add_task(f"scrub {name}", total=total)
        stats = ScrubStats()
        run = asyncio.create_task(scrub_once(store, SCRUB_RATE, stats))
        while not run.done():
            bar.update(task, completed=min(stats.checked, total))
            await asyncio.sleep(0.2)
        await run
        bar.update(task, completed=total)
        results[name] = {"checked": stats.checked, "bytes": stats.bytes, "bad": stats.bad}

    await asyncio.gather(*(one(n) for n in sorted(view.up)))
    return {"nodes": results, "skipped_down": sorted(view.down)}


async def run_job(args: argparse.Namespace, kv: KV) -> int:
    job: str = args.admin_command
    quiet = bool(args.json or args.json_all)
    view = await open_blocks(args, kv)
    try:
        with _progress(quiet) as bar:
            work: Awaitable[dict[str, Any]]
            if job == "scrub":
                work = _scrub(view, bar)
            else:
                blocks = await _replicated(kv, view)
                work = _gc(kv, blocks, bar) if job == "gc" else _repair(kv, blocks, bar)
            result = await work
    finally:
        await view.close()
    if quiet:
        print(json.dumps({"job": job, **result}, indent=2, sort_keys=True))
    elif job == "scrub":
        for name, counts in result["nodes"].items():
            print(f"scrub {name}: checked {counts['checked']} blocks "
                  f"({counts['bytes']} bytes), {counts['bad']} corrupt (deleted)")  # fmt: skip
        for name in result["skipped_down"]:
            print(f"scrub {name}: skipped, the node does not answer")
    else:
        print(f"{job}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result.items()))
    return 0
