"""`cairn admin status` and `fsck` on an etcd cluster with a killed node, then `cluster
down` and `cluster up` of the same directory: the same ports (etcd members on their
recorded peer and client ports), the data still there, and a banner naming every gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cairn.exits import Exit
from tests.cluster.conftest import s3_client, start_etcd_cluster
from tests.cluster_util import CairnCluster

SHAPE = ["--nodes", "3", "--gateways", "2", "--replicas", "3", "--write-quorum", "2"]


def _cairn(cluster: CairnCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn.cli", *args],
        capture_output=True, text=True, timeout=120,
        env={**cluster._env(), "COLUMNS": "200"},
    )  # fmt: skip


def _admin(cluster: CairnCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return _cairn(cluster, "admin", "--meta", cluster.info["meta"], *args)


def test_status_with_a_killed_node_then_restart_on_the_same_ports(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        cluster = start_etcd_cluster(tmp_path_factory.mktemp("status") / "c", mp)
        try:
            _run(cluster)
        finally:
            cluster.stop()


def _run(cluster: CairnCluster) -> None:
    s3 = s3_client(cluster.endpoints[0], cluster.access_key, cluster.secret_key)
    s3.create_bucket(Bucket="status")
    body = os.urandom(300_000)
    s3.put_object(Bucket="status", Key="k", Body=body)

    healthy = _admin(cluster, "status")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "nodes: 4 up, 0 down" in healthy.stdout
    assert "meta leader:" in healthy.stdout and "NONE" not in healthy.stdout
    assert "0 under-replicated, 0 missing" in healthy.stdout

    victim = cluster.kill9("node", 1)
    down = _admin(cluster, "status")
    print(down.stdout)  # the "must show" of issue 18: status with a killed node
    victim_id = next(
        n["node_id"] for n in json.loads(_admin(cluster, "nodes", "--json").stdout)
        if n["url"].endswith(victim["address"])
    )  # fmt: skip
    assert f"nodes: 3 up, 1 down ({victim_id})" in down.stdout
    row = next(line for line in down.stdout.splitlines() if line.startswith(victim_id))
    assert "DOWN" in row
    data = json.loads(_admin(cluster, "status", "--json").stdout)
    assert data["nodes_down"] == [victim_id]
    assert data["layout"]["replicas"] == 3 and data["leader"]
    fsck = _admin(cluster, "fsck", "--json")
    report = json.loads(fsck.stdout)
    assert report["nodes_down"] == [victim_id] and report["missing"] == 0
    # Blocks the killed node held now have 2 readable copies of 3.
    assert fsck.returncode == (Exit.UNDER_REPLICATED if report["under_replicated"] else Exit.OK)

    endpoints, meta = cluster.endpoints, cluster.info["meta"]
    ports = json.loads((cluster.data / "ports.json").read_text())
    assert _cairn(cluster, "cluster", "down", "--data", str(cluster.data)).returncode == 0
    up = _cairn(
        cluster, "cluster", "up", "--data", str(cluster.data), *SHAPE, "--etcd", "3",
        "--meta-services", "2", "--no-internal-tls",
    )  # fmt: skip
    assert up.returncode == Exit.CLUSTER_REFUSED, "a different shape (3 nodes, not 4) restarted"
    assert "--nodes 4" in up.stderr
    up = _cairn(
        cluster, "cluster", "up", "--data", str(cluster.data), "--nodes", "4",
        "--gateways", "2", "--etcd", "3", "--meta-services", "2", "--no-internal-tls",
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    cluster.info = json.loads((cluster.data / "cluster.json").read_text())
    assert cluster.endpoints == endpoints and cluster.info["meta"] == meta
    assert json.loads((cluster.data / "ports.json").read_text()) == ports
    for endpoint in endpoints:  # the banner names every gateway
        assert f"S3 endpoint: {endpoint}" in up.stdout
    etcd_args = [p["args"] for p in cluster.processes("etcd")]
    for (client, peer), args in zip(ports["etcd"], etcd_args, strict=True):
        assert f"http://127.0.0.1:{client}" in args and f"http://127.0.0.1:{peer}" in args
    for endpoint in endpoints:
        got = s3_client(endpoint, cluster.access_key, cluster.secret_key)
        assert got.get_object(Bucket="status", Key="k")["Body"].read() == body
    again = _admin(cluster, "status", "--json")
    assert json.loads(again.stdout)["nodes_down"] == []
