"""`cairn_blocks_missing` on the meta leader's /metrics of a real local cluster (4 nodes,
R=2, node grace 1 s, a repair pass every second): killing both nodes that hold an
object's block leaves it on no live node, and the leader's repair counts it; restarting
them brings the count back to 0."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from blockstore.api import all_ids
from blockstore.client import HttpBlockStore
from tests.cluster.test_metrics_cluster import wait
from tests.cluster_util import CairnCluster
from tests.conftest import make_client

MISSING = "cairn_blocks_missing"


def _holders(c: CairnCluster) -> list[int]:
    """Indexes of the nodes that hold any block."""
    secret = (c.data / "cluster-secret").read_text().strip()

    async def held(address: str) -> bool:
        store = HttpBlockStore(f"http://{address}", secret)
        try:
            return any([b async for page in all_ids(store) for b in page])
        finally:
            await store.close()

    nodes = c.processes("node")
    return [i for i, p in enumerate(nodes) if asyncio.run(held(p["address"]))]


def test_killing_every_holder_counts_the_block_missing(tmp_path: Path) -> None:
    cluster = CairnCluster(
        tmp_path / "c", nodes=4, replicas=2, write_quorum=2,
        extra_args=["--repair-interval", "1", "--node-grace", "1"],
    ).start()  # fmt: skip
    try:
        s3 = make_client(cluster)
        s3.create_bucket(Bucket="fragile")
        s3.put_object(Bucket="fragile", Key="one-block", Body=os.urandom(100_000))
        meta = cluster.processes("meta")[0]["url"]
        holders = _holders(cluster)
        assert len(holders) == 2
        healthy = wait(meta, lambda m: m.get("cairn_repair_passes_total", 0) >= 1)
        assert healthy[MISSING] == 0

        for i in holders:
            cluster.kill9("node", i)
        lost = wait(meta, lambda m: m.get(MISSING) == 1)
        assert lost[MISSING] == 1

        for i in holders:
            cluster.restart("node", i)
        back = wait(meta, lambda m: m.get(MISSING) == 0)
        assert back[MISSING] == 0
        assert len(s3.get_object(Bucket="fragile", Key="one-block")["Body"].read()) == 100_000
    finally:
        cluster.stop()
