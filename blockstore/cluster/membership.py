"""Membership: keeps a process's view of storage nodes in step with the registry.

Every interval it reads the node records, the live set (nodes whose lease is alive) and
the layout from metadata, opens pooled clients to new nodes, probes every node's /health,
and marks down (skipped by reads and writes) a node that is out of the live set or does
not answer its probe within a second.

Only the layout manager writes: the `cairn meta` leader passes `manage_layout` and installs
a new layout when the registered node set changed. Everyone else (every `cairn gateway`)
is a reader, so that one process in a cluster decides the layout. Transient failures never
change the layout: a node leaves it only once its lease has expired and it has been
--node-grace without heartbeats.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from blockstore.client import HttpBlockStore
from blockstore.cluster.placement import Layout, NodeInfo, compute_layout
from blockstore.cluster.replicated import ReplicatedBlocks
from meta.api import TxnConflict
from meta.nodes import NodeRecord, NodeRegistry
from meta.records import now_ms

log = logging.getLogger("cairn.membership")
GiB = 1 << 30


class Membership:
    def __init__(
        self,
        registry: NodeRegistry,
        blocks: ReplicatedBlocks,
        secret: str,
        *,
        manage_layout: bool | Callable[[], bool] = False,
        interval: float = 1.0,
        node_grace: float = 600.0,
    ) -> None:
        self.registry = registry
        self.blocks = blocks
        self.secret = secret
        self._manage_layout = manage_layout
        self.interval = interval
        self.node_grace_ms = int(node_grace * 1000)
        self.records: dict[str, NodeRecord] = {}
        self.live: set[str] = set()
        self._lock = asyncio.Lock()  # the loop and on-demand refreshes (blocks.refresh)
        blocks.refresh = self.refresh

    @property
    def manage_layout(self) -> bool:
        """Whether this process installs layouts now (a meta service: only while it leads)."""
        m = self._manage_layout
        return m() if callable(m) else m

    async def refresh(self) -> None:
        async with self._lock:
            await self._refresh()

    async def _refresh(self) -> None:
        records = {r.node_id: r for r in await self.registry.nodes()}
        self.live = await self.registry.live()
        for node_id, rec in records.items():
            store = self.blocks.stores.get(node_id)
            if not isinstance(store, HttpBlockStore) or store.url != rec.url.rstrip("/"):
                if store is not None:
                    await store.close()
                self.blocks.stores[node_id] = HttpBlockStore(rec.url, self.secret)
        for node_id in set(self.blocks.stores) - set(records):
            await self.blocks.stores.pop(node_id).close()
            self.blocks.down.discard(node_id)  # removed: neither down nor, later, "up"
            log.info("node %s left the registry", node_id)
        self.records = records
        self.blocks.weights = {
            n: max(r.capacity / GiB, 0.001) if r.capacity else 1.0 for n, r in records.items()
        }
        await self._probe()
        await self._sync_layout()

    async def _probe(self) -> None:
        ids = list(self.blocks.stores)
        stores = [self.blocks.stores[n] for n in ids]
        alive = await asyncio.gather(*(s.health() for s in stores if isinstance(s, HttpBlockStore)))
        down = {n for n, ok in zip(ids, alive, strict=True) if not ok or n not in self.live}
        for n in down - self.blocks.down:
            log.warning("node %s is down", n)
        for n in self.blocks.down - down:
            log.info("node %s is up", n)
        self.blocks.down = down

    async def _sync_layout(self) -> None:
        current, previous, raw = await self.registry.layout()
        cur = Layout.from_dict(current) if current else None
        # A node leaves the layout only when its heartbeats have been missing for the
        # grace period: a restart or a short outage must not move data around. A node whose
        # lease is alive stays whatever the grace: its heartbeats come every 2 s, and a grace
        # shorter than that (or a heartbeat late on a busy machine) would otherwise take a
        # healthy node out of the layout and put it back a second later, moving its data.
        now = now_ms()
        wanted = {
            n
            for n, r in self.records.items()
            if n in self.live or now - r.heartbeat_ms <= self.node_grace_ms
        }
        if (
            self.manage_layout
            and wanted
            and (cur is None or cur.node_ids() != wanted or cur.replicas != self.blocks.replicas)
        ):
            nodes = [
                NodeInfo(r.node_id, self.blocks.weights.get(r.node_id, 1.0), r.zone)
                for r in self.records.values()
                if r.node_id in wanted
            ]
            new = compute_layout(nodes, self.blocks.replicas, (cur.version + 1) if cur else 1)
            if cur is None or new.assignments != cur.assignments or new.replicas != cur.replicas:
                try:
                    await self.registry.install_layout(new.to_dict(), current, raw)
                    log.info("installed layout v%d over %d nodes", new.version, len(nodes))
                except TxnConflict:
                    pass  # another writer won; read theirs next round
                current, previous, raw = await self.registry.layout()
        if current:
            self.blocks.set_layout(
                Layout.from_dict(current), Layout.from_dict(previous) if previous else None
            )

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - keep the last good view and try again
                log.exception("membership refresh failed")
            await asyncio.sleep(self.interval)
