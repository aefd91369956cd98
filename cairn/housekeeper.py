"""The housekeeper: the one scheduled job that keeps stored data tidy and whole.

Each round, while this process is the one that should act (`is_leader`), it runs what is
due, in this order:

1. journal recovery: releases a crash left half done, stages of writers that died;
2. upload expiry: multipart uploads older than `upload_expiry` are aborted;
3. GC: blocks unreferenced for the grace period are deleted from the stores;
4. repair and rebalance: every block onto the R nodes the layout gives it, copies elsewhere
   dropped (every `repair_interval` seconds; a first pass one interval after start).

Every round it also folds the per-bucket usage deltas into their totals (meta.usage), and
once per process it counts the buckets made before usage counters existed (the backfill).

It runs in exactly one place: the elected `cairn meta` leader for a cluster, and worker 0
of `cairn serve`. A plain `cairn gateway` never runs it. Lifecycle rules join it later.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from blockstore.cluster.gc import collect_garbage
from blockstore.cluster.repair import Repairer
from blockstore.cluster.replicated import ReplicatedBlocks
from meta import usage
from meta.records import now_ms
from meta.store import MetaStore
from meta.uploads import Uploads

log = logging.getLogger("cairn.housekeeper")


@dataclass
class Schedule:
    """Seconds between passes; 0 switches a pass off."""

    gc_interval: float = 30.0
    repair_interval: float = 300.0
    upload_expiry: float = 7 * 86400

    @classmethod
    def of(cls, args: argparse.Namespace) -> Schedule:
        """The schedule `cairn serve` and `cairn meta` take from their options."""
        return cls(args.gc_interval, args.repair_interval, args.upload_expiry)


@dataclass
class Progress:
    """What the passes have done since this process started, for metrics."""

    gc_passes: int = 0
    gc_deleted: int = 0
    repair_passes: int = 0
    repair_running: bool = False
    repair_last_finished: float = 0.0  # unix time
    repair_copied: int = 0  # blocks copied back to a layout replica, over all passes
    under_replicated: int = 0  # known blocks found short of a replica, over all passes
    usage_folded: int = 0


@dataclass
class Housekeeper:
    meta: MetaStore
    blocks: ReplicatedBlocks
    schedule: Schedule = field(default_factory=Schedule)
    is_leader: Callable[[], bool] = lambda: True
    _last_gc: float = float("-inf")
    _last_repair: float = field(default_factory=time.monotonic)
    _backfilled: bool = False
    progress: Progress = field(default_factory=lambda: Progress())

    def __post_init__(self) -> None:
        self.uploads = Uploads(self.meta)
        self.repairer = Repairer(self.meta, self.blocks)

    async def round(self) -> None:
        """Run every pass that is due; a failing pass is logged and retried next round."""
        if not self.is_leader():
            return
        await self._step("usage", self.count_usage)
        s, now = self.schedule, time.monotonic()
        if s.gc_interval > 0 and now - self._last_gc >= s.gc_interval:
            self._last_gc = now
            await self._step("gc", self.collect)
        if s.repair_interval > 0 and now - self._last_repair >= s.repair_interval:
            self._last_repair = now
            await self._step("repair", self.repair)

    async def repair(self) -> None:
        """One repair and rebalance pass (blockstore/cluster/repair.py), counted."""
        self.progress.repair_running = True
        try:
            stats = await self.repairer.run_once()
            self.progress.repair_passes += 1
            self.progress.repair_copied += stats.copied
            self.progress.under_replicated += stats.under_replicated
            self.progress.repair_last_finished = time.time()
        finally:
            self.progress.repair_running = False

    async def collect(self) -> int:
        """Journal recovery, upload expiry and GC: what frees space, in dependency order."""
        await self.meta.journal.run()
        expired = await self.uploads.expire(now_ms() - int(self.schedule.upload_expiry * 1000))
        if expired:
            log.info("aborted %d abandoned multipart uploads", expired)
        deleted = await collect_garbage(self.meta, self.blocks)
        if deleted:
            log.info("deleted %d unreferenced blocks", deleted)
        self.progress.gc_passes += 1
        self.progress.gc_deleted += deleted
        return deleted

    async def count_usage(self) -> int:
        """Fold pending usage deltas (a bounded number per round); the first round also
        backfills buckets that have no counters yet."""
        if not self._backfilled:
            counted, left = await usage.backfill(self.meta.kv)
            if counted:
                log.info("counted the usage of %d buckets made before usage counters", len(counted))
            self._backfilled = not left
        folded = await usage.fold(self.meta.kv)
        self.progress.usage_folded += folded
        return folded

    async def run(self, tick: float = 1.0) -> None:
        """Rounds forever, tick seconds apart (for a process that schedules nothing else)."""
        while True:
            await self.round()
            await asyncio.sleep(tick)

    async def _step(self, name: str, step: Callable[[], Awaitable[object]]) -> None:
        try:
            await step()
        except Exception:  # noqa: BLE001 - housekeeping must not die
            log.exception("housekeeping %s pass failed", name)
