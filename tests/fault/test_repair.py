"""Repair: after a node is lost for good, every block gets back to R copies.

A 4-node cluster (R=3, W=2, node grace 2 s, a repair pass every second) stores objects;
one node is killed with -9 and never comes back. Once the layout has dropped it, repair
copies the blocks it held onto the remaining nodes, so that with R=3 over 3 nodes every
node holds every block: shown by listing the nodes, and by killing two more nodes and
reading every object back from the last one. Without repair, blocks whose three copies
included the lost node and the two killed later would be gone.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest

from blockstore.api import all_ids
from blockstore.client import HttpBlockStore
from tests.cluster_util import CairnCluster
from tests.conftest import make_client

MiB = 1 << 20


def _held(c: CairnCluster, secret: str) -> dict[str, set[bytes]]:
    async def read() -> dict[str, set[bytes]]:
        out = {}
        for i, proc in enumerate(c.processes("node")):
            store = HttpBlockStore(f"http://{proc['address']}", secret)
            try:
                if await store.health(timeout=0.5):
                    out[f"node-{i}"] = {b async for page in all_ids(store) for b in page}
            finally:
                await store.close()
        return out

    return asyncio.run(read())


@pytest.fixture
def cluster(tmp_path: Path):
    c = CairnCluster(
        tmp_path / "c",
        extra_args=["--node-grace", "2", "--repair-interval", "1"],
    ).start()
    try:
        yield c
    finally:
        c.stop()


def test_lost_node_is_repaired_and_data_survives_two_more_losses(cluster: CairnCluster) -> None:
    c = cluster
    secret = (c.data / "cluster-secret").read_text().strip()
    s3 = make_client(c)
    s3.create_bucket(Bucket="rep")
    bodies = {f"obj-{i}": os.urandom(9 * MiB + i) for i in range(8)}  # 3 blocks each
    for key, body in bodies.items():
        s3.put_object(Bucket="rep", Key=key, Body=body)
    before = _held(c, secret)
    assert len(before) == 4
    every_block = set().union(*before.values())
    assert len(every_block) == 24
    # R=3 of 4 puts 72 copies on 4 nodes, so the node holding fewest lacks some blocks
    # (at most 18 of 24); it is the one left at the end, and only repair can give it those
    # blocks before their other copies go.
    survivor = min(before, key=lambda n: len(before[n]))
    lacking = every_block - before[survivor]
    assert lacking, {n: len(i) for n, i in before.items()}
    others = [int(n.split("-")[1]) for n in sorted(before) if n != survivor]

    c.kill9("node", others[0])
    t0 = time.monotonic()
    repaired = None
    while time.monotonic() - t0 < 60:
        held = _held(c, secret)
        if len(held) == 3 and all(ids >= every_block for ids in held.values()):
            repaired = time.monotonic() - t0
            break
        time.sleep(0.5)
    print(f"\n[repair] every block on the 3 remaining nodes {repaired}s after kill -9 of a node")
    assert repaired is not None, {n: len(every_block - ids) for n, ids in held.items()}

    c.kill9("node", others[1])
    c.kill9("node", others[2])
    assert _held(c, secret)[survivor] >= lacking
    for key, body in bodies.items():
        got = s3.get_object(Bucket="rep", Key=key)["Body"].read()
        assert hashlib.md5(got).digest() == hashlib.md5(body).digest(), key


def test_joining_node_gets_its_partitions_and_old_copies_go(
    cluster: CairnCluster, tmp_path: Path
) -> None:
    """Rebalance: a fifth node joins; repair moves its partitions to it, and every block
    ends on exactly the 3 nodes the new layout names."""
    import subprocess
    import sys

    from blockstore.cluster.placement import Layout
    from meta.nodes import NodeRegistry
    from meta.open import open_kv
    from tests.server import free_port

    c = cluster
    secret = (c.data / "cluster-secret").read_text().strip()
    s3 = make_client(c)
    s3.create_bucket(Bucket="bal")
    bodies = {f"obj-{i}": os.urandom(9 * MiB + i) for i in range(8)}
    for key, body in bodies.items():
        s3.put_object(Bucket="bal", Key=key, Body=body)
    every_block = set().union(*_held(c, secret).values())

    port = free_port()
    node = subprocess.Popen(
        [sys.executable, "-m", "cairn.cli", "node", "--data", str(tmp_path / "node-4"),
         "--port", str(port), "--meta", c.info["meta"], "--cluster-secret", secret],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        new_id = None
        for _ in range(100):
            if (tmp_path / "node-4" / "node-id").exists():
                new_id = (tmp_path / "node-4" / "node-id").read_text().strip()
                break
            time.sleep(0.1)
        assert new_id

        async def placement() -> dict[str, set[bytes]] | None:
            kv = open_kv(c.info["meta"])
            try:
                current, _, _ = await NodeRegistry(kv).layout()
            finally:
                await kv.close()
            layout = Layout.from_dict(current) if current else None
            if layout is None or new_id not in layout.node_ids():
                return None
            want: dict[str, set[bytes]] = {n: set() for n in layout.node_ids()}
            for b in every_block:
                for n in layout.nodes_of(b):
                    want[n].add(b)
            return want

        async def held_by_id() -> dict[str, set[bytes]]:
            out = {}
            for proc in c.processes("node") + [{"address": f"127.0.0.1:{port}"}]:
                store = HttpBlockStore(f"http://{proc['address']}", secret)
                try:
                    node_id = (await store.info())["node_id"]
                    out[str(node_id)] = {b async for page in all_ids(store) for b in page}
                finally:
                    await store.close()
            return out

        t0 = time.monotonic()
        done = None
        while time.monotonic() - t0 < 60:
            want = asyncio.run(placement())
            if want is not None:
                held = asyncio.run(held_by_id())
                if all(held.get(n, set()) & every_block == want[n] for n in want):
                    done = time.monotonic() - t0
                    break
            time.sleep(0.5)
        print(f"\n[rebalance] blocks exactly where the 5-node layout says {done}s after join")
        assert done is not None
        assert held[new_id] & every_block, "the new node got nothing"
        for key, body in bodies.items():
            got = s3.get_object(Bucket="bal", Key=key)["Body"].read()
            assert hashlib.md5(got).digest() == hashlib.md5(body).digest(), key
    finally:
        node.kill()
        node.wait()


def test_scrub_finds_a_rotten_block_and_repair_restores_it(tmp_path: Path) -> None:
    """A block rots on one node's disk while nobody reads it: scrub finds it (full BLAKE3
    check), deletes the bad copy, and repair copies a good replica back."""
    import lmdb

    from blockstore.address import block_id

    c = CairnCluster(
        tmp_path / "c",
        extra_args=["--node-grace", "2", "--repair-interval", "1", "--scrub-interval", "1"],
    ).start()
    try:
        secret = (c.data / "cluster-secret").read_text().strip()
        s3 = make_client(c)
        s3.create_bucket(Bucket="rot")
        body = os.urandom(5 * MiB)
        s3.put_object(Bucket="rot", Key="obj", Body=body)
        bid = block_id(body[: 4 * MiB])
        index = next(i for i in range(c.nodes) if bid in _held(c, secret)[f"node-{i}"])

        c.kill9("node", index)
        env = lmdb.open(str(c.data / f"node-{index}" / "blocks"), map_size=1 << 40, max_dbs=4)
        with env.begin(write=True) as txn:
            value = bytes(txn.get(bid))
            txn.put(bid, value[:100] + bytes([value[100] ^ 1]) + value[101:])
        env.close()
        c.restart("node", index)

        log = c.data / "logs" / f"node-{index}.restart.log"
        t0 = time.monotonic()
        found = restored = None
        while time.monotonic() - t0 < 60:
            if (
                found is None
                and log.exists()
                and f"block {bid.hex()} is corrupt" in log.read_text()
            ):
                found = time.monotonic() - t0
            if found is not None and bid in _held(c, secret).get(f"node-{index}", set()):
                restored = time.monotonic() - t0
                break
            time.sleep(0.25)
        print(f"\n[scrub] rotten block found {found}s after restart, good copy back {restored}s")
        assert found is not None and restored is not None

        async def fetch() -> bytes:
            proc = c.processes("node")[index]
            store = HttpBlockStore(f"http://{proc['address']}", secret)
            try:
                return bytes(await store.get(bid))
            finally:
                await store.close()

        assert block_id(asyncio.run(fetch())) == bid
        assert s3.get_object(Bucket="rot", Key="obj")["Body"].read() == body
    finally:
        c.stop()
