"""How long until every block of a lost node has R copies again, per GB.

    python -m tests.chaos.repair_time [--gib 1] [--nodes 4] [--replicas 3]

Starts `cairn cluster up` on etcd (repair every second, node grace 3 s), PUTs 64 MiB
objects until one node holds --gib GiB of blocks, lists that node's block ids, kills it
with SIGKILL, and polls the other nodes' listings until each of those blocks is on R of
them. Prints the time from the kill (the node's lease expiry and the node grace
included, then the copying) and MB/s of the lost node's bytes over that time."""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import tempfile
import time
from pathlib import Path

from tests.chaos.fsck import node_holdings
from tests.chaos.trial import teardown
from tests.chaos.workload import s3_client
from tests.cluster_util import CairnCluster

OBJECT = 64 << 20


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.chaos.repair_time", description=__doc__)
    p.add_argument("--gib", type=float, default=1.0)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--replicas", type=int, default=3)
    args = p.parse_args(argv)
    print(repair_time(args.gib, args.nodes, args.replicas), flush=True)
    return 0


def repair_time(gib: float, nodes: int = 3, replicas: int = 2) -> str:
    """Run the measurement on a cluster of its own; returns the line that says the result."""
    data = Path(tempfile.mkdtemp(prefix="chaos-repair-"))
    cluster = CairnCluster(
        data / "c", nodes=nodes, replicas=replicas, write_quorum=replicas,
        extra_args=["--etcd", "3", "--repair-interval", "1", "--node-grace", "3"],
    )  # fmt: skip
    try:
        cluster.start()
        return measure(cluster, int(gib * (1 << 30)))
    finally:
        teardown(cluster)
        shutil.rmtree(data, ignore_errors=True)


def measure(cluster: CairnCluster, target: int) -> str:
    secret = (cluster.data / "cluster-secret").read_text().strip()
    urls = [f"http://{p['address']}" for p in cluster.processes("node")]
    victim_url = urls[0]
    s3 = s3_client(cluster.endpoints[0], cluster.access_key, cluster.secret_key, timeout=120)
    s3.create_bucket(Bucket="repair")
    written, n = 0, 0
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        while len(held := node_holdings([victim_url], secret)) * (4 << 20) < target:
            batch = [pool.submit(_put, s3, f"o{n + i}") for i in range(4)]
            written += sum(f.result() for f in batch)
            n += 4
    lost = set(held)
    lost_bytes = len(lost) * (4 << 20)
    start = time.monotonic()
    cluster.kill9("node", 0)
    while True:
        copies = node_holdings(urls[1:], secret)
        short = sum(1 for b in lost if copies.get(b, 0) < cluster.replicas)
        if short == 0:
            break
        time.sleep(0.5)
    seconds = time.monotonic() - start
    return (
        f"wrote {written / 2**30:.2f} GiB; node 0 held {len(lost)} blocks "
        f"({lost_bytes / 2**30:.2f} GiB); all on R={cluster.replicas} live nodes again "
        f"{seconds:.1f} s after kill -9: {lost_bytes / 1e6 / seconds:.1f} MB/s "
        f"({seconds * 2**30 / lost_bytes:.1f} s per GiB, lease expiry and node grace included)"
    )


def _put(s3, key: str) -> int:
    s3.put_object(Bucket="repair", Key=key, Body=os.urandom(OBJECT))
    return OBJECT


if __name__ == "__main__":
    raise SystemExit(main())
