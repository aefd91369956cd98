"""Storage-node faults on a real 4-node cluster (R=3, W=2): kill -9 under load, two nodes
down, restarts, a corrupted block on disk, and the node's own guards (cluster secret,
hash check on PUT).

The scenario tests (phase 1 -> 2 -> 3) share one cluster and run in file order, once on
an unversioned bucket and once on a versioned one; on the versioned one, phase 3 also
finds every acknowledged version listed by ListObjectVersions and reads the noncurrent
ones (overwritten during the faults) by version id."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import lmdb
import pytest

from blockstore.address import block_id
from blockstore.api import BlockCorrupt, BlockStoreUnavailable
from blockstore.cluster.placement import Layout
from tests.cluster_util import CairnCluster
from tests.fault.conftest import (
    BLOCK,
    INLINE_MAX,
    Expected,
    KiB,
    LogWatcher,
    MiB,
    Traffic,
    cluster_secret,
    gateway_log,
    listing,
    make_s3,
    md5,
    node_call,
    node_id,
    node_url,
    put_seed,
    read_back,
    start_cluster,
    version_problems,
)

TIMINGS: dict[str, float | None] = {}


@pytest.fixture(scope="module", params=[False, True], ids=["unversioned", "versioned"])
def scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    versioning: bool = request.param
    with pytest.MonkeyPatch.context() as mp:
        c = start_cluster(tmp_path_factory.mktemp("fault") / "c", mp)
        try:
            s3 = make_s3(c)
            s3.create_bucket(Bucket="fault")
            if versioning:
                s3.put_bucket_versioning(
                    Bucket="fault", VersioningConfiguration={"Status": "Enabled"}
                )
            yield {
                "cluster": c,
                "s3": s3,
                "bucket": "fault",
                "expected": {},
                "versioning": versioning,
                "versions": [],  # every acknowledged PUT: key, version id, body
            }
        finally:
            c.stop()
            print(f"\n[fault timings] {TIMINGS}")


def _rel(events: list[tuple[float, str, str]], t0: float) -> list[str]:
    return [f"{when - t0:+.2f}s {key}: {err}" for when, key, err in events]


def _kill_under_traffic(
    c: CairnCluster, traffic: Traffic, index: int, warmup: float
) -> tuple[str, float, float | None]:
    """After warmup seconds of traffic, kill -9 node index; keep the traffic going until 4 s
    after the kill, then stop it. Returns the victim's id, the kill time and how long the
    gateway took to log it down (None: never)."""
    watcher = LogWatcher(gateway_log(c))
    try:
        time.sleep(warmup)
        victim = node_id(c, index)
        t_kill = time.monotonic()
        c.kill9("node", index)
        detected = watcher.wait(victim, "down", t_kill, timeout=15)
        time.sleep(max(0.0, 4.0 - (time.monotonic() - t_kill)))
    finally:
        traffic.stop()
        watcher.close()
    return victim, t_kill, detected


def test_phase1_kill9_one_node_mid_stream(scenario: dict) -> None:
    c: CairnCluster = scenario["cluster"]
    s3, bucket = scenario["s3"], scenario["bucket"]
    # Written with all 4 nodes up: 3 replicas of every block.
    seed = put_seed(s3, bucket, "seed", 12, scenario["versions"])
    overwrite = put_seed(s3, bucket, "ow", 6, scenario["versions"])  # overwritten in phase 2
    scenario["seed"], scenario["ow"] = seed, overwrite
    scenario["expected"].update(seed)
    scenario["expected"].update(overwrite)

    traffic = Traffic(c, bucket, "p1", readable=seed).start()
    victim, t_kill, detected = _kill_under_traffic(c, traffic, 1, 2.0)
    TIMINGS["phase1_detect_down_s"] = detected
    scenario["expected"].update(traffic.acked)
    scenario["versions"] += traffic.versions
    scenario["p1"] = dict(traffic.acked)
    acked_after_kill = sum(1 for t in traffic.puts_ok_times if t > t_kill)
    print(
        f"\n[phase 1] node {victim} marked down {detected}s after kill -9; "
        f"{len(traffic.acked)} PUTs acked ({acked_after_kill} after the kill), "
        f"{len(traffic.put_failed)} failed; {traffic.get_ok} GETs ok, "
        f"{len(traffic.get_failures)} failed"
    )

    assert detected is not None, "the gateway never logged the killed node as down"
    # Every acknowledged PUT reads back byte-identical.
    assert read_back(s3, bucket, {**seed, **overwrite, **traffic.acked}) == []
    # One replica of every block is alive: a client never sees a GET error.
    assert traffic.get_failures == [], _rel(traffic.get_failures, t_kill)
    assert traffic.get_ok > 0
    # Three of four nodes are up, W=2: writes keep succeeding too.
    assert traffic.put_failed == {}
    assert acked_after_kill > 0, "no PUT completed after the kill: the stream stalled"


def test_phase2_second_node_down(scenario: dict) -> None:
    if "p1" not in scenario:
        pytest.skip("phase 1 did not run")
    c: CairnCluster = scenario["cluster"]
    s3, bucket = scenario["s3"], scenario["bucket"]
    seed, overwrite = scenario["seed"], scenario["ow"]

    traffic = Traffic(
        c,
        bucket,
        "p2",
        readable=seed,
        overwrite=sorted(overwrite),
        sizes=(9 * MiB, 9 * MiB, 1 * MiB, 10 * KiB),
    ).start()
    victim, t_kill, detected = _kill_under_traffic(c, traffic, 2, 1.5)
    TIMINGS["phase2_detect_down_s"] = detected
    statuses = sorted({str(s) for s in traffic.put_failed_status})
    print(
        f"\n[phase 2] node {victim} marked down {detected}s after kill -9; "
        f"{len(traffic.acked)} PUTs acked, {len(traffic.put_failed)} failed "
        f"(statuses {statuses}: {sorted(set(traffic.put_failed.values()))}); "
        f"{traffic.get_ok} GETs ok, {len(traffic.get_failures)} failed"
    )
    # Bookkeeping for phase 3: acknowledged overwrites replace the expected content.
    scenario["expected"].update(traffic.acked)
    scenario["versions"] += traffic.versions
    scenario["p2"] = dict(traffic.acked)
    scenario["p2_failed"] = dict(traffic.put_failed)

    # Every PUT that got 200 reads back.
    assert read_back(s3, bucket, traffic.acked) == []
    # Objects written before the first kill have 3 replicas: one is alive.
    assert traffic.get_failures == [], _rel(traffic.get_failures, t_kill)
    assert read_back(s3, bucket, seed) == []
    # Written with one node down, placed around it: still readable.
    assert read_back(s3, bucket, scenario["p1"]) == []
    # A failed PUT leaves nothing visible; an overwrite that failed leaves the old version.
    listed = listing(s3, bucket)
    for key in traffic.put_failed:
        if key in overwrite:
            assert listed[key]["ETag"] == f'"{overwrite[key].md5}"', key
        else:
            assert key not in listed, f"failed PUT {key} is visible"
    assert (
        read_back(s3, bucket, {k: v for k, v in overwrite.items() if k in traffic.put_failed}) == []
    )
    # Failures are clean 503s (ServiceUnavailable / SlowDown), never 500s or resets.
    assert all(s == 503 for s in traffic.put_failed_status), traffic.put_failed
    # Blocks whose partition lost 2 of its 3 replicas cannot reach W=2 of *their* replicas
    # (design: "a write succeeds when W of the R replicas acknowledged it"): such PUTs
    # must fail with 503. List every such block that was acknowledged instead, and where
    # its copies went.
    layout = _layout(c)
    dead = {node_id(c, 1), node_id(c, 2)}
    ids = {node_id(c, i): i for i in range(c.nodes)}
    lost_two = [
        (key, b)
        for key, blocks in traffic.blocks.items()
        if traffic.put_started[key] > t_kill + (detected or 0)
        for b in blocks
        if len(dead & set(layout.nodes_of(b))) == 2
    ]
    scenario["p2_lost_two"] = lost_two
    where = []
    for key, b in lost_two[:3]:
        holders = [n for n, i in ids.items() if n not in dead and node_call(c, i, "has", [b])[0]]
        where.append(
            f"{key} block {b.hex()[:12]}: replicas {list(layout.nodes_of(b))}, stored on {holders}"
        )
    assert not lost_two, (
        f"{len(lost_two)} blocks in partitions that lost 2 of 3 replicas were acknowledged "
        f"(no PUT failed; dead: {sorted(dead)}): {where}"
    )


def test_phase2b_third_node_down_writes_fail_cleanly(scenario: dict) -> None:
    """One node of four left: no block can reach W=2, so every PUT that needs a block store
    fails with 503 and leaves nothing visible; inline objects still read and write."""
    if "p2" not in scenario:
        pytest.skip("phase 2 did not run")
    c: CairnCluster = scenario["cluster"]
    s3, bucket = scenario["s3"], scenario["bucket"]
    inline = {k: v for k, v in scenario["seed"].items() if v.size <= INLINE_MAX}
    # Keys with an acknowledged version now: their overwrite may fail but must not lose it.
    current: dict[str, Expected] = dict(scenario["expected"])
    targets = sorted(scenario["p1"])[:8]

    traffic = Traffic(
        c, bucket, "p2b", readable=inline, overwrite=targets, sizes=(9 * MiB, 1 * MiB, 10 * KiB)
    ).start()
    victim, t_kill, detected = _kill_under_traffic(c, traffic, 3, 1.0)
    TIMINGS["phase2b_detect_down_s"] = detected
    codes = sorted(set(traffic.put_failed.values()))
    print(
        f"\n[phase 2b] node {victim} marked down {detected}s after kill -9; "
        f"{len(traffic.acked)} PUTs acked, {len(traffic.put_failed)} failed ({codes}); "
        f"{traffic.get_ok} GETs ok, {len(traffic.get_failures)} failed"
    )
    scenario["expected"].update(traffic.acked)
    scenario["versions"] += traffic.versions
    scenario["p2b"] = dict(traffic.acked)

    # Each key is attempted once per phase. Once the third node is known down, only
    # inline (10 KiB) PUTs can succeed, and they must.
    after = [k for k, t in traffic.put_started.items() if t > t_kill + (detected or 0)]
    blocky = [k for k in after if traffic.put_size[k] > INLINE_MAX]
    assert blocky, "no multi-block PUT was attempted after the node was marked down"
    assert [k for k in blocky if k in traffic.acked] == []
    assert [k for k in after if k not in blocky and k in traffic.put_failed] == []
    # Clean failures: 503 ServiceUnavailable or SlowDown, nothing else.
    bad = {k: e for k, e in traffic.put_failed.items() if e.split()[0] != "503"}
    assert not bad, bad
    # Nothing half-visible: a failed new key is absent, a failed overwrite keeps the old one.
    listed = listing(s3, bucket)
    for key in traffic.put_failed:
        if key in traffic.acked:
            continue  # a later attempt on the same key succeeded
        if key in current:
            assert listed[key]["ETag"] == f'"{current[key].md5}"', key
        else:
            assert key not in listed, f"failed PUT {key} is visible"
    # Inline objects live in the metadata: reads of them never fail.
    assert traffic.get_failures == [], _rel(traffic.get_failures, t_kill)
    assert traffic.get_ok > 0


def test_phase3_restart_the_dead_nodes(scenario: dict) -> None:
    if "p2b" not in scenario:
        pytest.skip("phase 2b did not run")
    c: CairnCluster = scenario["cluster"]
    s3, bucket = scenario["s3"], scenario["bucket"]
    watcher = LogWatcher(gateway_log(c))
    try:
        up = []
        for i in (1, 2, 3):
            t0 = time.monotonic()
            c.restart("node", i)  # returns once the node answers /health
            up.append(watcher.wait(node_id(c, i), "up", t0, timeout=15))
        scenario["restarted"] = True
        TIMINGS["phase3_detect_up_s"] = max((u for u in up if u is not None), default=None)
    finally:
        watcher.close()
    print(f"\n[phase 3] nodes back, marked up {up}s after each restart began")
    # Blocks acknowledged in phase 2 were placed around the dead nodes; nothing copies them
    # to their layout replicas when those return (no repair yet): reads find them by rank.
    lost_two = scenario.get("p2_lost_two", [])
    ids = {node_id(c, i): i for i in range(c.nodes)}
    layout = _layout(c)
    missing = sum(
        1
        for _, b in lost_two
        for n in layout.nodes_of(b)
        if not node_call(c, ids[n], "has", [b])[0]
    )
    print(f"[phase 3] {missing} layout replicas missing for {len(lost_two)} placed-around blocks")
    assert None not in up, "the gateway never saw a restarted node as up"

    fresh = put_seed(s3, bucket, "p3", 9, scenario["versions"])  # every one must succeed
    scenario["expected"].update(fresh)
    expected: dict[str, Expected] = scenario["expected"]
    assert read_back(s3, bucket, expected) == []
    listed = listing(s3, bucket)
    assert sorted(listed) == sorted(expected)
    for key, want in expected.items():
        assert listed[key]["ETag"] == f'"{want.md5}"', key


def test_phase3_versions_after_recovery(scenario: dict) -> None:
    """Versioned bucket: the versions overwritten during the faults are history now. Each
    acknowledged PUT is listed by ListObjectVersions (the last of its key as the latest,
    nothing else: no failed PUT left a version), and each noncurrent one reads back by
    its version id, byte for byte. Unversioned bucket: every key has one version, null,
    and nothing the faults interrupted left another."""
    assert "restarted" in scenario, "phase 3 did not restart the nodes"
    s3, bucket = scenario["s3"], scenario["bucket"]
    if not scenario["versioning"]:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        versions = [v for page in pages for v in page.get("Versions", [])]
        assert {v["VersionId"] for v in versions} == {"null"}
        assert sorted(v["Key"] for v in versions) == sorted(scenario["expected"])
        return
    problems, noncurrent = version_problems(s3, bucket, scenario["versions"])
    print(f"\n[phase 3] {noncurrent} noncurrent versions read back by version id")
    assert problems == [], problems[:10]
    assert noncurrent > 0, "no overwrite was acknowledged: no noncurrent version to read"


# --- a corrupted block on disk ------------------------------------------------------------


def _layout(c: CairnCluster) -> Layout:
    from meta.nodes import NodeRegistry
    from meta.open import open_kv

    async def read() -> Layout:
        kv = open_kv(c.info["meta"])
        try:
            current, _, _ = await NodeRegistry(kv).layout()
            assert current is not None
            return Layout.from_dict(current)
        finally:
            await kv.close()

    return asyncio.run(read())


def test_corrupt_block_is_never_served(cluster: CairnCluster) -> None:
    s3 = make_s3(cluster)
    s3.create_bucket(Bucket="rot")
    body = os.urandom(9 * MiB)
    s3.put_object(Bucket="rot", Key="obj", Body=body)
    bid = block_id(body[:BLOCK])

    # The node a read tries first: the first replica of the block's partition.
    ids = {node_id(cluster, i): i for i in range(cluster.nodes)}
    first = _layout(cluster).nodes_of(bid)[0]
    index = ids[first]
    assert node_call(cluster, index, "has", [bid]) == [True]

    watcher = LogWatcher(gateway_log(cluster))
    try:
        t_kill = time.monotonic()
        cluster.kill9("node", index)
        # Seen down first: a restart inside one probe interval would never be logged "up".
        assert watcher.wait(first, "down", t_kill, timeout=15) is not None
        path = cluster.data / f"node-{index}" / "blocks"
        env = lmdb.open(str(path), map_size=1 << 40)
        with env.begin(write=True) as txn:
            value = txn.get(bid)
            assert value is not None and len(value) == BLOCK
            flipped = bytes(b ^ 0xFF for b in value[:4096]) + value[4096:]
            txn.put(bid, flipped)
        env.close()
        t0 = time.monotonic()
        cluster.restart("node", index)
        # Until the gateway sees the node as up it sorts it last and would not even try it.
        assert watcher.wait(first, "up", t0, timeout=15) is not None
    finally:
        watcher.close()

    # The gateway runs a worker per core and each probes on its own every second, so a GET
    # may still go to a worker that sorts the node last and never tries the corrupt copy.
    # Every GET must return the right bytes; within a few probe intervals one of them must
    # have tried the corrupt copy first and failed over.
    log_before = gateway_log(cluster).read_text()
    corrupt = f"block {bid.hex()} is corrupt on {first}"
    deadline = time.monotonic() + 10
    while True:
        data = s3.get_object(Bucket="rot", Key="obj")["Body"].read()
        assert md5(data) == md5(body) and len(data) == len(body)
        new_lines = gateway_log(cluster).read_text()[len(log_before) :]
        if corrupt in new_lines or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert corrupt in new_lines, new_lines[-2000:]
    # Ranged reads over the corrupt block too.
    part = s3.get_object(Bucket="rot", Key="obj", Range="bytes=100-199")["Body"].read()
    assert part == body[100:200]
    # The node itself never serves the block, whole or in part.
    with pytest.raises(BlockCorrupt):
        node_call(cluster, index, "get", bid)
    with pytest.raises(BlockCorrupt):
        node_call(cluster, index, "get", bid, 0, 10)


# --- the node's guards --------------------------------------------------------------------


def test_node_refuses_wrong_secret_and_bad_hash(cluster: CairnCluster) -> None:
    url = node_url(cluster, 0)
    good = os.urandom(100 * KiB)
    bid = block_id(good)

    # No secret at all / a wrong one: 403, and the client reports it as unavailable.
    assert httpx.get(f"{url}/blocks/{bid.hex()}", timeout=5).status_code == 403
    assert httpx.put(f"{url}/blocks/{bid.hex()}", content=good, timeout=5).status_code == 403
    assert httpx.get(f"{url}/stats", timeout=5).status_code == 403
    assert httpx.get(f"{url}/list", timeout=5).status_code == 403
    wrong = "not-the-cluster-secret"
    for method, args in (
        ("put", (bid, good)),
        ("get", (bid,)),
        ("has", ([bid],)),
        ("delete", (bid,)),
        ("list_ids", (b"", b"\xff" * 33)),
        ("stats", ()),
    ):
        with pytest.raises(BlockStoreUnavailable, match="refused the cluster secret"):
            node_call(cluster, 0, method, *args, secret=wrong)
    assert node_call(cluster, 0, "has", [bid]) == [False]  # the refused PUT stored nothing

    # A body that does not hash to its id: BlockCorrupt, and nothing is stored.
    bad = bytearray(good)
    bad[0] ^= 1
    with pytest.raises(BlockCorrupt):
        node_call(cluster, 0, "put", bid, bytes(bad))
    assert node_call(cluster, 0, "has", [bid]) == [False]
    assert bid not in node_call(cluster, 0, "list_ids", bid, bid + b"\0")
    big = os.urandom(5 * MiB)  # hashed in a thread on the node: same refusal
    with pytest.raises(BlockCorrupt):
        node_call(cluster, 0, "put", block_id(big[:-1]), big)
    assert node_call(cluster, 0, "has", [block_id(big[:-1])]) == [False]

    # The right secret and the right bytes: stored and served.
    node_call(cluster, 0, "put", bid, good)
    assert node_call(cluster, 0, "get", bid) == good
    assert cluster_secret(cluster)  # (the secret came from DATA/cluster-secret)


def test_restart_needs_no_extra_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CairnCluster.restart() must bring a killed node back with no help from the caller's
    environment (the other tests set CAIRN_CLUSTER_SECRET to work around it)."""
    monkeypatch.delenv("CAIRN_CLUSTER_SECRET", raising=False)
    c = CairnCluster(tmp_path / "c", nodes=4)
    try:
        c.start()
        c.kill9("node", 3)
        try:
            c.restart("node", 3)
        except RuntimeError as exc:
            log = (c.data / "logs" / "node-3.restart.log").read_text().strip()
            pytest.fail(f"{exc}: {log[-300:]}")
        assert node_call(c, 3, "has", [b"\0" * 32]) == [False]
    finally:
        c.stop()
