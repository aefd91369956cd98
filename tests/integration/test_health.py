"""Unauthenticated liveness and readiness on every process: a gateway (`cairn serve`, and
a cluster's gateway), storage nodes and meta services; readiness turns to 503 when the
metadata store or a write quorum of nodes is gone, and back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.cluster_util import CairnCluster
from tests.conftest import make_client
from tests.server import CairnServer

LIVE, READY = "/_cairn/health/live", "/_cairn/health/ready"


def wait_for_status(url: str, status: int, timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url, timeout=5)
        if r.status_code == status or time.monotonic() > deadline:
            assert r.status_code == status, f"{url}: {r.status_code} {r.text}"
            return r
        time.sleep(0.25)


def test_serve_health_without_credentials(tmp_path: Path) -> None:
    srv = CairnServer(tmp_path / "data").start()
    try:
        live = httpx.get(srv.endpoint + LIVE, timeout=5)
        assert live.status_code == 200 and live.json()["ok"] is True
        ready = httpx.get(srv.endpoint + READY, timeout=5)
        assert ready.status_code == 200
        assert ready.json() == {"ok": True, "meta": "ok", "nodes_up": 1, "write_quorum": 1}
        assert ready.headers["content-type"] == "application/json"
        assert httpx.head(srv.endpoint + READY, timeout=5).status_code == 200
        assert httpx.post(srv.endpoint + READY, timeout=5).status_code == 405
        other = httpx.get(srv.endpoint + "/_cairn/health/other", timeout=5)
        assert other.status_code == 404 and LIVE in other.json()["checks"]
        # Everything else is authorized as before: an anonymous listing is refused.
        r = httpx.get(srv.endpoint + "/", timeout=5)
        assert r.status_code == 403 and b"AccessDenied" in r.content
        # And no bucket can take the health path's name.
        with pytest.raises(ClientError) as err:
            make_client(srv).create_bucket(Bucket="_cairn")
        assert err.value.response["Error"]["Code"] == "InvalidBucketName"
    finally:
        srv.stop()


def test_cluster_readiness_follows_the_write_quorum(tmp_path: Path) -> None:
    """4 nodes, W=2: ready with all, still ready with 2 left, 503 with 1, on the gateway;
    the nodes and the meta service answer their own checks."""
    cluster = CairnCluster(tmp_path / "c", nodes=4, write_quorum=2).start()
    try:
        gw = cluster.endpoints[0]
        body = wait_for_status(gw + READY, 200).json()
        assert body["nodes_up"] == 4 and body["write_quorum"] == 2
        for node in cluster.processes("node"):
            assert httpx.get(node["url"] + LIVE, timeout=5).status_code == 200
            r = wait_for_status(node["url"] + READY, 200)
            assert r.json()["store"] == "ok" and r.json()["meta"] == "ok"
        meta = cluster.processes("meta")[0]["url"]
        assert httpx.get(meta + LIVE, timeout=5).status_code == 200
        assert wait_for_status(meta + READY, 200).json()["meta"] == "ok"
        cluster.kill9("node", 0)
        cluster.kill9("node", 1)
        assert wait_for_status(gw + READY, 200).json()["nodes_up"] >= 2
        cluster.kill9("node", 2)
        body = wait_for_status(gw + READY, 503).json()
        assert body == {"ok": False, "meta": "ok", "nodes_up": 1, "write_quorum": 2}
        assert httpx.get(gw + LIVE, timeout=5).status_code == 200  # alive all the same
        cluster.restart("node", 2)
        wait_for_status(gw + READY, 200)
    finally:
        cluster.stop()


def test_readiness_when_the_metadata_store_is_gone(tmp_path: Path) -> None:
    """One etcd member, killed: the gateway, the meta service and (once its lease would
    have lapsed) each node answer 503, saying the metadata is unreachable."""
    cluster = CairnCluster(
        tmp_path / "c", nodes=2, replicas=2, write_quorum=1, extra_args=["--etcd", "1"]
    ).start()
    try:
        gw = cluster.endpoints[0]
        meta = cluster.processes("meta")[0]["url"]
        node = cluster.processes("node")[0]["url"]
        for url in (gw, meta, node):
            wait_for_status(url + READY, 200)
        cluster.kill9("etcd", 0)
        assert wait_for_status(gw + READY, 503).json()["meta"] == "unreachable"
        assert wait_for_status(meta + READY, 503).json()["meta"] == "unreachable"
        assert wait_for_status(node + READY, 503).json()["meta"] == "unreachable"
        for url in (gw, meta, node):
            assert httpx.get(url + LIVE, timeout=5).status_code == 200
    finally:
        cluster.stop()


def test_probe_command_for_container_healthchecks(tmp_path: Path) -> None:
    """`python -m cairn.probe URL` (compose.yaml's healthchecks): 0 when ready, else 1."""
    import subprocess
    import sys

    from tests.server import free_port

    def probe(url: str) -> int:
        return subprocess.run(
            [sys.executable, "-m", "cairn.probe", url], capture_output=True
        ).returncode

    srv = CairnServer(tmp_path / "data").start()
    try:
        assert probe(srv.endpoint + READY) == 0
        assert probe(srv.endpoint + "/_cairn/health/nothing") == 1
        assert probe(f"http://127.0.0.1:{free_port()}/_cairn/health/ready") == 1
    finally:
        srv.stop()
