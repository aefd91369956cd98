"""What readiness means for each process (gateway/health.py serves the answers).

A gateway is ready when its metadata store answers a read within PROBE_TIMEOUT and at
least a write quorum of storage nodes is up in its view of the cluster (the live set
that membership keeps; `cairn serve`'s block stores are in-process and always up). A
meta service is ready when its metadata store answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from blockstore.cluster.replicated import ReplicatedBlocks
from meta import keys
from meta.api import KV

PROBE_TIMEOUT = 2.0


async def meta_reachable(kv: KV) -> bool:
    """One small read, bounded in time (etcd's client would otherwise retry for 10 s)."""
    try:
        await asyncio.wait_for(kv.get(keys.LAYOUT), PROBE_TIMEOUT)
    except Exception:  # noqa: BLE001 - any failure to read is "unreachable"
        return False
    return True


def nodes_up(blocks: ReplicatedBlocks) -> int:
    return sum(1 for n in blocks.stores if n not in blocks.down)


async def gateway_probe(kv: KV, blocks: ReplicatedBlocks) -> dict[str, Any]:
    meta_ok = await meta_reachable(kv)
    up = nodes_up(blocks)
    return {
        "ok": meta_ok and up >= blocks.write_quorum,
        "meta": "ok" if meta_ok else "unreachable",
        "nodes_up": up,
        "write_quorum": blocks.write_quorum,
    }


async def meta_service_probe(kv: KV) -> dict[str, Any]:
    meta_ok = await meta_reachable(kv)
    return {"ok": meta_ok, "meta": "ok" if meta_ok else "unreachable"}
