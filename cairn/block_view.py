"""The block stores an admin command inspects, however the store runs.

A `cairn serve` data directory (`--data DIR`) keeps its stores as LMDB directories in
DIR/blocks/node-N, which this process opens beside the server (LMDB allows that). A
cluster's nodes are the ones registered in the metadata, reached over their HTTP(S) API
with the cluster secret (and the link TLS of $CAIRN_LINK_*, as every cluster process).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

from blockstore.api import BlockStore
from blockstore.cluster.placement import Layout
from meta.api import KV
from meta.nodes import NodeRegistry


@dataclass
class BlockView:
    """Stores by node id, the nodes that do not answer, and how many copies each block
    should have (R)."""

    stores: dict[str, BlockStore]
    replicas: int
    down: set[str] = field(default_factory=set)

    @property
    def up(self) -> dict[str, BlockStore]:
        return {n: s for n, s in self.stores.items() if n not in self.down}

    async def close(self) -> None:
        for store in self.stores.values():
            await store.close()


async def open_blocks(args: argparse.Namespace, kv: KV) -> BlockView:
    if getattr(args, "data", None):
        return _serve_stores(Path(args.data), getattr(args, "replicas", None))
    return await _cluster_stores(args, NodeRegistry(kv))


def _serve_stores(data: Path, replicas: int | None) -> BlockView:
    from blockstore.lmdb_store import LmdbBlockStore

    dirs = sorted((data / "blocks").glob("node-*"), key=lambda p: int(p.name.split("-")[1]))
    stores: dict[str, BlockStore] = {
        d.name: LmdbBlockStore(d, verify_puts=False) for d in dirs if (d / "data.mdb").is_file()
    }
    return BlockView(stores, min(replicas or 1, max(len(stores), 1)))


async def _cluster_stores(args: argparse.Namespace, registry: NodeRegistry) -> BlockView:
    from blockstore.client import HttpBlockStore

    secret = str(args.cluster_secret or os.environ.get("CAIRN_CLUSTER_SECRET", ""))
    current, _, _ = await registry.layout()
    replicas = getattr(args, "replicas", None) or (
        Layout.from_dict(current).replicas if current else 1
    )
    view = BlockView({}, replicas)
    for rec in await registry.nodes():
        client = HttpBlockStore(rec.url, secret, timeout=10.0)
        view.stores[rec.node_id] = client
        if not await client.health():
            view.down.add(rec.node_id)
    return view
