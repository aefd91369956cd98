"""What a lifecycle run costs: objects expired per second by the housekeeper's run
(meta/lifecycle_run.py) on a real LMDB, on an unversioned bucket (each expiry a delete)
and on a versioned one (each a delete marker, then the noncurrent version removed), and
the run's time over a bucket where nothing is due (the scan alone).

    python -m benchmarks.lifecycle [--keys 5000]

Record layer only (no HTTP); heads are inline and empty, so the figure is the metadata's
own: one transaction per deletion, carrying the run's progress record with it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from benchmarks.versions import put_all
from meta.lifecycle import Clock
from meta.lifecycle_run import LifecycleRun
from meta.lmdb_kv import LmdbKV
from meta.records import BucketRecord, now_ms
from meta.store import MetaStore


async def run_to_end(run: LifecycleRun, now: int) -> float:
    """Seconds for one whole run (its batches one after another)."""
    start = time.perf_counter()
    await run.step(now)
    while run.state.active:
        await run.step(now)
    return time.perf_counter() - start


async def bench(keys: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cairn-bench-lifecycle-") as tmp:
        kv = LmdbKV(tmp, map_size=8 << 30)
        store = MetaStore(kv)
        names = [f"dir{i % 100:02d}/obj{i:07d}" for i in range(keys)]
        for bucket, state in (("plain", None), ("versioned", "Enabled")):
            config = {"versioning": state} if state else {}
            await store.create_bucket(bucket, "us-east-1", config=config)
            await put_all(store, bucket, names)

        def rules(days: int) -> dict:
            return {"id": "r", "on": True, "f": "empty", "ed": days, "nd": days}

        for bucket in ("plain", "versioned"):

            def apply(rec: BucketRecord, days: int = 10**6) -> None:
                rec.config["lifecycle"] = [rules(days)]

            await store.update_bucket(bucket, apply)
        clock = Clock.scaled(0.001)  # a millisecond day
        later = now_ms() + 1000
        idle = await run_to_end(LifecycleRun(store, Clock(), interval_s=0), later)
        print(f"run with nothing due, 2 x {keys} keys: {idle:.2f} s")
        for bucket in ("plain", "versioned"):

            def due(rec: BucketRecord) -> None:
                rec.config["lifecycle"] = [rules(1)]

            await store.update_bucket(bucket, due)
        run = LifecycleRun(store, clock, interval_s=0)
        took = await run_to_end(run, later)
        print(f"expiring {keys} (delete) + {keys} (marker): {2 * keys / took:,.0f} objects/s")
        took = await run_to_end(run, now_ms() + 1000)
        print(f"then {keys} noncurrent versions and {keys} lone markers: {2 * keys / took:,.0f}/s")
        print("totals:", run.state.totals)
        await kv.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keys", type=int, default=5000)
    args = p.parse_args()
    asyncio.run(bench(args.keys))


if __name__ == "__main__":
    main()
