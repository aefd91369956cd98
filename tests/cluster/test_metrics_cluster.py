"""Metrics of a local cluster (`cairn cluster up --metrics-port`): the gateway's request
bytes, the meta service's view of the store (usage per bucket, nodes, leadership,
repair), and each node's own counters, agreeing with each other; a killed node shows as
down, and repair's finds and copies are counted."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests.cluster_util import CairnCluster
from tests.conftest import make_client
from tests.integration.test_metrics_usage import eventually
from tests.server import free_port

MiB = 1 << 20


def scrape_url(url: str) -> dict[str, float]:
    port_less = url.rstrip("/")
    text = httpx.get(port_less + "/metrics", timeout=5).text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def wait(url: str, check, timeout: float = 40.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        m = scrape_url(url)
        if check(m) or time.monotonic() > deadline:
            return m
        time.sleep(0.5)


def test_cluster_metrics(tmp_path: Path) -> None:
    port = free_port()
    cluster = CairnCluster(
        tmp_path / "c", nodes=4, replicas=3, write_quorum=2,
        extra_args=["--metrics-port", str(port), "--repair-interval", "1", "--node-grace", "1"],
    ).start()  # fmt: skip
    try:
        s3 = make_client(cluster)
        s3.create_bucket(Bucket="watched")
        bodies = [os.urandom(n) for n in (10, 100_000, 5 * MiB)]
        for i, body in enumerate(bodies):
            s3.put_object(Bucket="watched", Key=f"k{i}", Body=body)
        put_bytes = 'cairn_s3_bytes_in_total{operation="PutObject"}'
        gw = eventually(port, lambda m: m.get(put_bytes) == sum(map(len, bodies)))
        assert gw[put_bytes] == sum(map(len, bodies))

        meta = cluster.processes("meta")[0]["url"]
        objects = 'cairn_bucket_objects{bucket="watched"}'
        m = wait(meta, lambda m: m.get(objects) == 3)
        assert m[objects] == 3
        assert m['cairn_bucket_bytes{bucket="watched"}'] == sum(map(len, bodies))
        assert m["cairn_leader"] == 1
        nodes = cluster.processes("node")
        ups = {k: v for k, v in m.items() if k.startswith("cairn_cluster_node_up")}
        assert len(ups) == 4 and set(ups.values()) == {1.0}
        stored = 0.0
        for node in nodes:
            own = scrape_url(node["url"])
            (blocks,) = [v for k, v in own.items() if k.startswith("cairn_node_blocks")]
            stored += blocks
            assert any(k.startswith("cairn_node_capacity_bytes") for k in own)
            assert "process_resident_memory_bytes" in own
        # Every block of the two objects stored as blocks, on R=3 nodes (the 10-byte
        # one is inline in the metadata).
        assert stored >= 3 * 3 and stored % 3 == 0
        meta_total = sum(v for k, v in m.items() if k.startswith("cairn_cluster_node_blocks"))
        assert meta_total == stored

        dead = cluster.kill9("node", 0)
        m = wait(meta, lambda m: m.get("cairn_under_replicated_blocks_found_total", 0) > 0)
        assert m["cairn_under_replicated_blocks_found_total"] > 0
        m = wait(meta, lambda m: m["cairn_repair_copied_blocks_all_total"] >= stored / 3 - 1)
        assert m["cairn_repair_passes_total"] >= 1
        assert m["cairn_repair_copied_blocks_all_total"] > 0
        down = [k for k, v in m.items() if k.startswith("cairn_cluster_node_up") and v == 0]
        assert len(down) <= 1, "at most the killed node is down"
        assert dead["role"] == "node"
    finally:
        cluster.stop()
