"""The web console's wiring (`--console-port`): what it reads, where it listens.

The console (gateway/console/) never opens storage itself: this composition root gives it
readers over the worker's own metadata store, block client and key ring, and it makes
its bucket and object requests as real S3 requests to the gateway's S3 port.

Who sees the cluster view: the admin, i.e. a key of the bootstrap user (the one created
at first start from CAIRN_ACCESS_KEY or credentials.json, and keys made for it with
`cairn admin key create`) that is unrestricted (every right on every bucket). Other users
see only their buckets and objects.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from blockstore.cluster.replicated import ReplicatedBlocks
from blockstore.lmdb_store import LmdbBlockStore
from cairn.housekeeper import Housekeeper
from gateway.console.app import Console, create_console_app
from gateway.console.rates import prometheus_totals
from gateway.console.s3client import S3Endpoint
from gateway.console.sources import ConsoleSources
from gateway.keyring import KeyRing
from meta import keys
from meta.access import BOOTSTRAP_USER_ID
from meta.api import KV
from meta.election import Election
from meta.nodes import NodeRegistry
from meta.records import now_ms
from meta.store import MetaStore

BACKLOG_CAP = 1000  # queue entries counted at most per look (the page shows "1000+")
SNAPSHOT_TTL = 1.0  # seconds a cluster snapshot is reused by every viewer


def loopback(host: str) -> str:
    """Where this machine reaches a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def is_admin(keyring: KeyRing):  # type: ignore[no-untyped-def]
    async def check(access_key: str) -> bool:
        # The key was just proven by a signed request, perhaps to another worker: if this
        # worker's key ring does not know it yet, it looks again (as the gateway does).
        if keyring.identity(access_key) is None:
            await keyring.refresh_for(access_key)
        ident = keyring.identity(access_key)
        return ident is not None and ident.user_id == BOOTSTRAP_USER_ID and ident.unrestricted

    return check


def usage_reader(meta: MetaStore):  # type: ignore[no-untyped-def]
    """(objects, bytes) from the bucket's usage counters (meta/usage.py)."""

    async def read(bucket: str) -> tuple[int, int] | None:
        usage = await meta.bucket_usage(bucket)
        return usage.objects, usage.bytes

    return read


class ClusterSnapshot:
    """The cluster view's data, read from metadata and the worker's block client."""

    def __init__(
        self,
        kv: KV,
        blocks: ReplicatedBlocks,
        mode: str,
        housekeeper: str,
        keeper: Housekeeper | None = None,
    ) -> None:
        self.kv = kv
        self.blocks = blocks
        self.mode = mode
        self.housekeeper = housekeeper  # where GC and repair run
        self.keeper = keeper  # the housekeeper itself, when it runs in this process
        self.registry = NodeRegistry(kv)
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def __call__(self) -> dict[str, Any]:
        if self._cached and time.monotonic() - self._cached[0] < SNAPSHOT_TTL:
            return dict(self._cached[1])
        snap = {"mode": self.mode, "nodes": await self._nodes(), "layout": self._layout()}
        snap["jobs"] = await self._jobs()
        self._cached = (time.monotonic(), snap)
        return dict(snap)

    def _layout(self) -> dict[str, Any]:
        layout = self.blocks.layout
        if layout is None:
            return {"version": None, "partitions": 0, "replicas": self.blocks.replicas}
        return {
            "version": layout.version,
            "partitions": len(layout.assignments),
            "replicas": layout.replicas,
        }

    def _partitions(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for owners in self.blocks.layout.assignments if self.blocks.layout else ():
            for node in owners:
                counts[node] = counts.get(node, 0) + 1
        return counts

    async def _nodes(self) -> list[dict[str, Any]]:
        records = await self.registry.nodes()
        if not records:  # cairn serve: its block stores are in this process
            return await self._local_nodes()
        live, parts, now = await self.registry.live(), self._partitions(), now_ms()
        return [
            {
                "id": r.node_id, "url": r.url, "zone": r.zone,
                "capacity": r.capacity, "used": r.used,
                "up": r.node_id in live and r.node_id not in self.blocks.down,
                "lease": "alive" if r.node_id in live else "expired",
                "partitions": parts.get(r.node_id, 0) if parts else None,
                "heartbeat_age": max(0.0, (now - r.heartbeat_ms) / 1000),
            }
            for r in sorted(records, key=lambda r: r.node_id)
        ]  # fmt: skip

    async def _local_nodes(self) -> list[dict[str, Any]]:
        out = []
        for node_id, store in sorted(self.blocks.stores.items()):
            stats = await store.stats()
            path = str(store.path) if isinstance(store, LmdbBlockStore) else ""
            out.append(
                {
                    "id": node_id, "url": path, "zone": "", "capacity": stats.capacity,
                    "used": stats.used, "up": node_id not in self.blocks.down,
                    "lease": "in-process", "partitions": None, "heartbeat_age": None,
                }
            )  # fmt: skip
        return out

    async def _jobs(self) -> list[dict[str, Any]]:
        gc_queued = await self._count(keys.GCQUEUE, keys.prefix_end(keys.GCQUEUE))
        gc_due = await self._count(keys.GCQUEUE, keys.GCQUEUE + keys.u64(now_ms() + 1))
        journal = await self._count(keys.JOURNAL, keys.prefix_end(keys.JOURNAL))
        leader = await Election(self.kv, "housekeeping", "console").leader()
        where = f"cairn meta {leader}" if leader else self.housekeeper
        gc_state = f"{_n(gc_due)} due now, {_n(gc_queued)} in grace"
        if self.keeper is not None:
            p = self.keeper.progress
            gc_state += f"; {p.gc_passes} passes deleted {p.gc_deleted} blocks"
        jobs = [
            _job("GC", where, gc_state, gc_queued),
            _job("Journal recovery", where, "pending" if journal else "idle", journal),
            self._repair(where),
        ]
        delta = getattr(keys, "USAGE_DELTA", None)
        if delta is not None:  # the usage counters (meta/usage.py)
            pending = await self._count(delta, keys.prefix_end(delta))
            jobs.append(_job("Usage folding", where, "pending" if pending else "idle", pending))
        return jobs

    def _repair(self, where: str) -> dict[str, Any]:
        """Repair and rebalance: the running or last pass's progress when the housekeeper
        runs here (cairn serve), else what the layouts tell."""
        if self.keeper is None:
            return _job("Repair & rebalance", where, self._moving(), None)
        p, r = self.keeper.progress, self.keeper.repairer.current
        verb = "running" if p.repair_running else f"{p.repair_passes} passes done; last"
        state = (
            f"{verb}: {r.checked} of {r.total} blocks checked, {r.copied} copied, "
            f"{r.dropped} dropped, {r.under_replicated} under-replicated, "
            f"{self.keeper.repairer.missing} missing (no live copy)"
        )
        job = _job("Repair & rebalance", where, state, r.under_replicated)
        if r.total:
            job["progress"] = r.checked / r.total
        elif p.repair_passes and not p.repair_running:
            job["progress"] = 1.0  # a finished pass over no blocks is complete
        return job

    def _moving(self) -> str:
        """Partitions whose replicas differ from the previous layout's: what a rebalance
        moves."""
        cur, prev = self.blocks.layout, getattr(self.blocks, "previous", None)
        if cur is None:
            return "no layout"
        if prev is None:
            return f"layout v{cur.version}: nothing to move"
        moved = sum(1 for a, b in zip(cur.assignments, prev.assignments, strict=False) if a != b)
        return f"layout v{cur.version}: {moved} partitions changed since v{prev.version}"

    async def _count(self, start: bytes, end: bytes) -> int:
        return len(await self.kv.scan(start, end, limit=BACKLOG_CAP))


def _n(count: int) -> str:
    return f"{count}+" if count >= BACKLOG_CAP else str(count)


def _job(name: str, where: str, state: str, backlog: int | None) -> dict[str, Any]:
    return {"name": name, "where": where, "state": state, "backlog": backlog}


def console_sources(
    meta: MetaStore,
    kv: KV,
    blocks: ReplicatedBlocks,
    keyring: KeyRing,
    mode: str,
    keeper: Housekeeper | None = None,
) -> ConsoleSources:
    housekeeper = "worker 0 of cairn serve" if mode == "serve" else "the cairn meta leader"
    return ConsoleSources(
        usage=usage_reader(meta),
        cluster=ClusterSnapshot(kv, blocks, mode, housekeeper, keeper),
        is_admin=is_admin(keyring),
        request_totals=prometheus_totals,
    )


def console_app(
    args: argparse.Namespace, sources: ConsoleSources, cert: Path | None, verify: bool | str
) -> Starlette:
    """``verify``: how the console checks the gateway's certificate on loopback (the
    self-signed certificate's file; False for an operator's certificate, which names the
    public host, not 127.0.0.1)."""
    scheme = "https" if cert else "http"
    endpoint = S3Endpoint(
        f"{scheme}://{loopback(args.host)}:{args.port}", region=args.region, verify=verify
    )
    console = Console(endpoint, sources, secure_cookie=cert is not None)
    return create_console_app(console)


async def serve_beside(main: uvicorn.Server, console: uvicorn.Server, sock: object) -> None:
    """Run the console's server next to the S3 server in this worker's loop, and stop it
    with it. Only the S3 server handles signals (uvicorn's ``serve`` installs handlers;
    the console runs uvicorn's inner ``_serve``, which does not)."""
    task = asyncio.create_task(console._serve(sockets=[sock]))  # type: ignore[list-item]
    try:
        await main.serve()
    finally:
        console.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
