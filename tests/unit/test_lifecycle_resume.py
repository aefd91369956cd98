"""A lifecycle run cut off again and again, at arbitrary points (its task cancelled in
the middle of a batch, perhaps between a commit and its bookkeeping), and resumed each
time by a new LifecycleRun as a restarted process would: on a real LMDB, the run still
ends with every due key expired exactly once (one delete marker each), nothing else
touched, and counts that match."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from meta.election import NotLeader
from meta.lifecycle import Clock
from meta.lifecycle_run import KINDS, LifecycleRun, load_state
from meta.lmdb_kv import LmdbKV
from meta.records import BucketRecord, ObjectHead, now_ms
from meta.store import MetaStore

DUE, KEPT = 120, 30


async def _setup(store: MetaStore) -> None:
    await store.create_bucket("b", "us-east-1", config={"versioning": "Enabled"})
    for i in range(DUE):
        await store.put_object("b", ObjectHead(f"due/{i:03d}", inline=b"x"), {})
    for i in range(KEPT):
        await store.put_object("b", ObjectHead(f"kept/{i:03d}", inline=b"x"), {})

    def rules(rec: BucketRecord) -> None:
        rec.config["lifecycle"] = [{"id": "r", "on": True, "f": "prefix", "p": "due/", "ed": 1}]

    await store.update_bucket("b", rules)


async def _interrupted_run(store: MetaStore, seed: int) -> int:
    """Run to the end, cancelling each attempt after a random moment; returns attempts."""
    rng = random.Random(seed)
    later = now_ms() + 60_000
    attempts = 0
    while True:
        attempts += 1
        run = LifecycleRun(store, Clock.scaled(1), interval_s=3600, batch=7)  # a restart
        task = asyncio.ensure_future(_to_the_end(run, later))
        await asyncio.sleep(rng.uniform(0, 0.02))
        if not task.done():
            task.cancel()
        (outcome,) = await asyncio.gather(task, return_exceptions=True)
        if outcome is None:
            return attempts
        # A cancelled attempt's last commit may land after the next one read the
        # progress record: that one then stops (NotLeader) and the next reads afresh.
        assert isinstance(outcome, (asyncio.CancelledError, NotLeader)), outcome


async def _to_the_end(run: LifecycleRun, now: int) -> None:
    await run.step(now)
    while run.state.active:
        await run.step(now)


async def _check(tmp: Path, seed: int) -> None:
    kv = LmdbKV(tmp)
    store = MetaStore(kv)
    try:
        await _setup(store)
        attempts = await _interrupted_run(store, seed)
        assert attempts > 3  # it really was cut off mid-run, several times
        page = await store.list_versions("b", "", "", "", "", 10_000)
        markers = [e.key for e in page.entries if e.head is not None and e.head.marker]
        assert sorted(markers) == [f"due/{i:03d}" for i in range(DUE)]  # once each
        current, _ = await store.list_objects("b", limit=10_000)
        assert [e.key for e in current] == [f"kept/{i:03d}" for i in range(KEPT)]
        state = await load_state(store)
        assert dict(zip(KINDS, state.totals, strict=True)) == {
            "objects": DUE, "versions": 0, "markers": 0, "uploads": 0,
        }  # fmt: skip
        assert not state.active and state.runs == 1
    finally:
        await kv.close()


def test_interrupted_runs_resume_without_losing_or_repeating(tmp_path: Path) -> None:
    for seed in range(3):
        asyncio.run(_check(tmp_path / str(seed), seed))
