"""Lifecycle on etcd with two meta services: the elected leader carries the rules out;
killed (kill -9) in the middle of a run, the other one takes over and resumes from the
cursor in etcd, and afterwards exactly the expected objects have expired, each once
(one delete marker per key on a versioned bucket), and the counts in the progress
record are exact."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from meta.lifecycle_run import KINDS, RunState, load_state
from meta.open import open_kv
from meta.store import MetaStore
from tests.cluster.conftest import gateway_clients, meta_leader, start_etcd_cluster

DAY = 3.0
EXPIRING, KEPT = 400, 40


def progress(meta_spec: str) -> RunState:
    async def read() -> RunState:
        kv = open_kv(meta_spec)
        try:
            return await load_state(MetaStore(kv))
        finally:
            await kv.close()

    return asyncio.run(read())


def count(s3, bucket: str, prefix: str) -> int:
    return sum(
        page.get("KeyCount", 0)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    )


def all_versions(s3, bucket: str) -> tuple[list[dict], list[dict]]:
    versions: list[dict] = []
    markers: list[dict] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions += page.get("Versions", [])
        markers += page.get("DeleteMarkers", [])
    return versions, markers


def test_killing_the_leader_mid_run_neither_loses_nor_repeats(tmp_path, monkeypatch) -> None:
    cluster = start_etcd_cluster(tmp_path / "c", monkeypatch, ["--lifecycle-day-seconds", str(DAY)])
    try:
        s3, s3b = gateway_clients(cluster, attempts=3)
        bucket = "lifecycle-failover"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        keys = [f"exp/{i:04d}" for i in range(EXPIRING)] + [f"keep/{i:03d}" for i in range(KEPT)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))
        s3b.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {"ID": "exp", "Filter": {"Prefix": "exp/"}, "Status": "Enabled",
                     "Expiration": {"Days": 1}},
                ]
            },
        )  # fmt: skip
        leader = meta_leader(cluster)
        assert leader is not None

        # Kill the leader as soon as the run has hidden some objects but not all.
        deadline = time.monotonic() + 20 * DAY
        while (left := count(s3, bucket, "exp/")) == EXPIRING:
            assert time.monotonic() < deadline, "the lifecycle run never started"
            time.sleep(0.05)
        cluster.kill9("meta", leader)
        assert 0 < left < EXPIRING, f"killed after the run ({left} left): not mid-run"

        deadline = time.monotonic() + 60
        while count(s3, bucket, "exp/") > 0:
            assert time.monotonic() < deadline, "the new leader did not finish the run"
            time.sleep(0.5)
        assert meta_leader(cluster, skip={leader}) == 1 - leader

        # Exactly the expected set: every exp/ key hidden behind one marker, its version
        # kept as noncurrent; keep/ untouched.
        versions, markers = all_versions(s3b, bucket)
        assert sorted(m["Key"] for m in markers) == keys[:EXPIRING]  # one each, no repeats
        assert sorted(v["Key"] for v in versions) == keys
        assert count(s3b, bucket, "keep/") == KEPT
        current = {v["Key"] for v in versions if v["IsLatest"]}
        assert current == set(keys[EXPIRING:])

        # The counts were committed with the deletions: exact across the hand-over.
        state = progress(cluster.info["meta"])
        totals = dict(zip(KINDS, state.totals, strict=True))
        assert totals == {"objects": EXPIRING, "versions": 0, "markers": 0, "uploads": 0}
        time.sleep(3 * DAY)  # later runs find nothing more to do
        _, markers = all_versions(s3b, bucket)
        assert len(markers) == EXPIRING
        later = progress(cluster.info["meta"])
        assert later.runs > state.runs and later.totals == state.totals
    finally:
        cluster.stop()
