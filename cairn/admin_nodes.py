"""Storage nodes as `cairn admin nodes` and `status` show them: registered nodes of a
cluster (probed now), or the local block stores of a `cairn serve` data directory."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from blockstore.client import HttpBlockStore
from cairn.tables import human_bytes, print_table
from meta.nodes import NodeRegistry


def cluster_secret(args: argparse.Namespace) -> str:
    return str(args.cluster_secret or os.environ.get("CAIRN_CLUSTER_SECRET", ""))


async def node_rows(args: argparse.Namespace, registry: NodeRegistry) -> list[dict[str, Any]]:
    """Every registered node with its health: probed now (up) and its lease (alive)."""
    live = await registry.live()
    rows = []
    for rec in await registry.nodes():
        client = HttpBlockStore(rec.url, cluster_secret(args))
        up = await client.health()
        await client.close()
        rows.append(
            {"node_id": rec.node_id, "url": rec.url, "zone": rec.zone, "used": rec.used,
             "capacity": rec.capacity, "up": up, "lease_alive": rec.node_id in live}
        )  # fmt: skip
    return rows


def print_nodes(rows: list[dict[str, Any]]) -> None:
    print_table(
        ("NODE", "URL", "ZONE", "USED", "CAPACITY", "HEALTH", "LEASE"),
        [
            (
                r["node_id"],
                r["url"],
                r["zone"],
                human_bytes(r["used"]),
                human_bytes(r["capacity"]),
                "up" if r["up"] else "DOWN",
                "alive" if r["lease_alive"] else "EXPIRED",
            )
            for r in rows
        ],  # fmt: skip
        empty="no nodes registered",
    )


async def serve_node_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """A `cairn serve` directory's stores: always up while their LMDB opens."""
    from cairn.block_view import open_blocks

    view = await open_blocks(args, None)  # type: ignore[arg-type]  # --data needs no KV
    rows = []
    try:
        for name, store in view.stores.items():
            stats = await store.stats()
            rows.append(
                {"node_id": name, "url": str(Path(args.data).resolve() / "blocks" / name),
                 "zone": "", "used": stats.used, "capacity": stats.capacity, "up": True,
                 "lease_alive": True}
            )  # fmt: skip
    finally:
        await view.close()
    return rows
