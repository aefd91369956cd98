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

    counted = len(metrics._pending.meta_get)
    assert asyncio.run(run()) == (b"v", None)
    row = metrics.histogram_row(metrics._pending.meta_get)
    assert sum(row[:-1]) == counted + 2 and row[-1] >= 0
    assert "free_bytes" not in vars(timed)
    assert timed.free_bytes() == kv.free_bytes() > 0
    assert vars(timed)["free_bytes"] == kv.free_bytes  # kept: the store's bound method
    assert timed.max_key_size == kv.max_key_size


def test_histogram_rows_count_each_duration_in_its_first_bound_at_or_above() -> None:
    b = metrics.BUCKETS
    row = metrics.histogram_row([0.0, b[0], b[0] * 1.5, b[-1] * 2])
    assert row[0] == 2  # 0 and exactly the first bound (le)
    assert row[1] == 1
    assert row[len(b)] == 1  # past the last bound: +Inf
    assert sum(row[:-1]) == 4 and row[-1] == 0.0 + b[0] + b[0] * 1.5 + b[-1] * 2
