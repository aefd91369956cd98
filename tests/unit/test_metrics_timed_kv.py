"""TimedKV times get, scan and commit on the real store and hands every other attribute
through: a method is kept on the wrapper after its first lookup (so later lookups skip
``__getattr__``), and it is still the store's own."""

from __future__ import annotations

import asyncio

from gateway import metrics
from meta.api import Txn
from meta.lmdb_kv import LmdbKV


def test_gets_are_timed_and_other_methods_are_the_stores_own(tmp_path) -> None:
    kv = LmdbKV(tmp_path / "meta")
    timed = metrics.TimedKV(kv)

    async def run() -> tuple[bytes | None, bytes | None]:
        await timed.commit(Txn().put(b"k", b"v"))
        return await timed.get(b"k"), await timed.get(b"missing")

    before = metrics._pending.meta.get("get", [0.0] * (len(metrics.BUCKETS) + 2))
    counted = sum(before[:-1])
    assert asyncio.run(run()) == (b"v", None)
    row = metrics._pending.meta["get"]
    assert sum(row[:-1]) == counted + 2 and row[-1] >= 0
    assert "free_bytes" not in vars(timed)
    assert timed.free_bytes() == kv.free_bytes() > 0
    assert vars(timed)["free_bytes"] == kv.free_bytes  # kept: the store's bound method
    assert timed.max_key_size == kv.max_key_size
