"""The fault campaign's network partitions are real (tests/chaos/netns.py): a node in its
own network namespace, cut in the kernel. `partition-node` makes the node unreachable from
the gateways while its heartbeat keeps its lease alive; `isolate-node` cuts the heartbeat
too, so the lease expires; healing brings the node back. Needs root (as CI runs), for
`ip netns`."""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn import launcher
from meta.nodes import NodeRegistry
from meta.open import open_kv
from tests.chaos import netns
from tests.chaos.nemesis import NODE_LEASE
from tests.chaos.netns import NodeLink, NodeLinks
from tests.cluster_util import CairnCluster
from tests.fault.conftest import LogWatcher, gateway_log, make_s3, node_id

BUCKET = "partitioned"


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def netns_cluster(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple]:
    """Three nodes in namespaces; with TLS on the internal links and to etcd, or not."""
    assert netns.available(), "network namespaces need root and iproute2 (CI runs as root)"
    monkeypatch.delenv("CAIRN_CLUSTER_SECRET", raising=False)
    with NodeLinks(3) as links:
        cluster = CairnCluster(
            tmp_path / "c", nodes=3, gateways=1, replicas=2, write_quorum=1,
            extra_args=["--etcd", "1", "--meta-services", "1", "--log-level", "info",
                        "--node-netns", links.spec()],
            internal_tls=request.param,
        )  # fmt: skip
        try:
            cluster.start()
            yield cluster, links
        finally:
            cluster.stop()


def live_nodes(cluster: CairnCluster) -> set[str]:
    """The node ids whose lease etcd holds now."""

    async def read() -> set[str]:
        kv = open_kv(cluster.info["meta"])
        try:
            return await NodeRegistry(kv).live()
        finally:
            await kv.close()

    return asyncio.run(read())


def connects(address: str, timeout: float = 1.5) -> bool:
    """Whether a TCP connection from the host's namespace (where gateways run) completes;
    a timeout, not a refusal, is what a partition looks like."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except TimeoutError:
        return False


def test_partition_node_is_unreachable_but_keeps_its_lease(netns_cluster: tuple) -> None:
    cluster, links = netns_cluster
    address = cluster.processes("node")[0]["address"]
    assert address.startswith(links.links[0].node_ip + ":"), address
    victim = node_id(cluster, 0)
    s3 = make_s3(cluster)
    s3.create_bucket(Bucket=BUCKET)
    body = b"x" * 100_000  # not inline: its block lives on 2 of the 3 nodes
    s3.put_object(Bucket=BUCKET, Key="k", Body=body)
    assert connects(address) and victim in live_nodes(cluster)
    watcher = LogWatcher(gateway_log(cluster))
    try:
        cut = time.monotonic()
        links.links[0].partition()
        assert not connects(address), "the partitioned node still accepts connections"
        assert watcher.wait(victim, "down", cut) is not None, "the gateway never saw it down"
        while time.monotonic() < cut + NODE_LEASE + 3:  # longer than a lease: it lives on
            assert victim in live_nodes(cluster), "the heartbeat was cut too"
            time.sleep(1)
        # The object's other copy serves reads meanwhile.
        assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == body
        healed = time.monotonic()
        links.links[0].heal()
        assert connects(address), "healing did not restore the link"
        assert watcher.wait(victim, "up", healed) is not None, "the gateway never saw it up"
    finally:
        watcher.close()


@pytest.mark.parametrize("netns_cluster", [False], ids=["plain"], indirect=True)
def test_isolate_node_loses_its_lease_and_heal_brings_it_back(netns_cluster: tuple) -> None:
    cluster, links = netns_cluster
    address = cluster.processes("node")[1]["address"]
    victim = node_id(cluster, 1)
    assert victim in live_nodes(cluster)
    cut = time.monotonic()
    links.links[1].isolate()
    assert not connects(address)
    while victim in live_nodes(cluster):
        assert time.monotonic() < cut + NODE_LEASE + 6, "the lease outlived the isolation"
        time.sleep(0.5)
    healed = time.monotonic()
    links.links[1].heal()
    assert connects(address)
    while victim not in live_nodes(cluster):  # its heartbeat registers it again
        assert time.monotonic() < healed + 20, "the node did not come back after healing"
        time.sleep(0.5)


def test_the_trial_removes_its_namespaces() -> None:
    """What NodeLinks makes, it deletes: namespaces and host-side veths alike."""
    with NodeLinks(2) as links:
        names = [link.namespace for link in links.links]
        assert set(names) <= set(netns.ip("netns", "list").stdout.split())
    listed = netns.ip("netns", "list").stdout.split()
    assert not set(names) & set(listed)
    assert all(link.host_side not in netns.ip("-o", "link", "show").stdout for link in links.links)


def test_the_hook_adds_etcd_addresses_and_refuses_a_wrong_count() -> None:
    """--node-netns: etcd keeps 127.0.0.1 and adds each link's address; the node's spec
    names every member there (with TLS, its certificate's files too); a wrong count is
    refused before any start."""
    spec = "ns0/10.201.0.2/10.201.0.3,ns1/10.201.1.2/10.201.1.3"
    args = argparse.Namespace(nodes=2, internal_tls=False, node_netns=spec)
    cmd = ["etcd", "--listen-client-urls", "http://127.0.0.1:2379", "--name", "e"]
    urls = launcher._listen_for_netns(cmd, args, 2379)[2]
    assert urls == "http://127.0.0.1:2379,http://10.201.0.3:2379,http://10.201.1.3:2379"
    link = launcher._node_netns(args)[1]
    meta = launcher._netns_meta("etcd://127.0.0.1:2379,127.0.0.1:2381", link)
    assert meta == "etcd://10.201.1.3:2379,10.201.1.3:2381"
    assert launcher._netns_meta("lmdb:/d/meta", link) == "lmdb:/d/meta"  # a shared file
    with pytest.raises(SystemExit, match="NS/NODE_IP/ETCD_IP"):
        launcher._node_netns(argparse.Namespace(nodes=1, node_netns="ns0/10.201.0.2"))
    with pytest.raises(SystemExit, match="2 namespaces for 3 nodes"):
        launcher._node_netns(argparse.Namespace(nodes=3, internal_tls=False, node_netns=spec))
    tls = "etcd://127.0.0.1:2379?ca=/p/ca.pem&cert=/p/node-1.pem&key=/p/node-1.key"
    assert (
        launcher._netns_meta(tls, link) == "etcd://10.201.1.3:2379" + tls[len(tls.split("?")[0]) :]
    )
    https = ["etcd", "--listen-client-urls", "https://127.0.0.1:2379"]
    assert launcher._listen_for_netns(https, args, 2379)[2].endswith(",https://10.201.1.3:2379")


def test_the_sweep_deletes_a_dead_campaigns_namespaces_and_keeps_a_live_ones() -> None:
    """A campaign killed by SIGKILL leaves its namespaces; the next one's sweep removes
    them, and leaves alone those of a campaign still running (its PID is alive)."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "60"])
    try:
        made = [
            NodeLink(f"cairn{pid}-n0", f"c{pid}r0", f"c{pid}n0", 250 + k)
            for k, pid in enumerate((dead.pid, live.pid))
        ]
        for link in made:
            link.create()
        netns.sweep()
        names = netns.ip("netns", "list").stdout.split()
        links = netns.ip("-o", "link", "show").stdout
        assert made[0].namespace not in names and made[0].host_side + "@" not in links
        assert made[1].namespace in names and made[1].host_side + "@" in links
    finally:
        live.kill()
        live.wait()
        for link in made:
            link.remove()
