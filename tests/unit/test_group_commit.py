"""GroupCommitWriter: one writer thread, many waiting coroutines, one commit per batch."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest

from meta.lmdb_writer import GroupCommitWriter


@pytest.fixture
def env(tmp_path: Path) -> Iterator[lmdb.Environment]:
    e = lmdb.open(str(tmp_path / "env"), map_size=1 << 28, sync=True)
    yield e
    e.close()


@pytest.fixture
def writer(env: lmdb.Environment) -> Iterator[GroupCommitWriter]:
    w = GroupCommitWriter(env, "test")
    yield w
    w.close()


def read(env: lmdb.Environment, key: bytes) -> bytes | None:
    with env.begin() as txn:
        return txn.get(key)


async def test_concurrent_submits_share_few_transactions(
    env: lmdb.Environment, writer: GroupCommitWriter
) -> None:
    txn_ids: Counter[int] = Counter()
    lock = threading.Lock()

    def job(i: int):
        def run(txn: lmdb.Transaction) -> int:
            with lock:
                txn_ids[txn.id()] += 1
            txn.put(f"k{i:04d}".encode(), str(i).encode())
            return i

        return run

    n = 1000
    results = await asyncio.gather(*(writer.submit(job(i)) for i in range(n)))
    assert results == list(range(n))
    assert sum(txn_ids.values()) == n
    # batched: far fewer write transactions (and fsyncs) than jobs
    assert len(txn_ids) <= n // 10, f"{len(txn_ids)} transactions for {n} jobs"
    assert max(txn_ids.values()) > 1
    with env.begin() as txn:
        assert txn.stat(env.open_db())["entries"] == n


async def test_committed_transactions_advance_once_per_batch(
    env: lmdb.Environment, writer: GroupCommitWriter
) -> None:
    before = env.info()["last_txnid"]
    await asyncio.gather(
        *(writer.submit(lambda t, i=i: t.put(b"x%d" % i, b"")) for i in range(500))
    )
    committed = env.info()["last_txnid"] - before
    assert 1 <= committed <= 50


async def test_failing_job_fails_alone_and_rest_of_batch_commits(
    env: lmdb.Environment, writer: GroupCommitWriter
) -> None:
    txn_of: dict[int, int] = {}

    def job(i: int):
        def run(txn: lmdb.Transaction) -> str:
            txn_of[i] = txn.id()
            txn.put(f"job{i:03d}".encode(), b"written")  # a failing job's write too...
            if i % 7 == 3:
                raise ValueError(f"job {i} refuses")
            return f"ok{i}"

        return run

    results = await asyncio.gather(
        *(writer.submit(job(i)) for i in range(200)), return_exceptions=True
    )
    for i, r in enumerate(results):
        if i % 7 == 3:
            assert isinstance(r, ValueError) and str(r) == f"job {i} refuses"
            assert read(env, f"job{i:03d}".encode()) is None  # ...is rolled back alone
        else:
            assert r == f"ok{i}"
            assert read(env, f"job{i:03d}".encode()) == b"written"
    # the failures really shared transactions with successes
    failed_txns = {txn_of[i] for i in range(200) if i % 7 == 3}
    ok_txns = {txn_of[i] for i in range(200) if i % 7 != 3}
    assert failed_txns & ok_txns


async def test_jobs_in_a_batch_see_earlier_jobs_in_submit_order(
    env: lmdb.Environment, writer: GroupCommitWriter
) -> None:
    def incr(txn: lmdb.Transaction) -> int:
        n = int(txn.get(b"counter") or b"0") + 1
        txn.put(b"counter", str(n).encode())
        return n

    results = await asyncio.gather(*(writer.submit(incr) for _ in range(300)))
    assert results == list(range(1, 301))
    assert read(env, b"counter") == b"300"


async def test_failed_job_does_not_disturb_later_jobs_reading_its_keys(
    env: lmdb.Environment, writer: GroupCommitWriter
) -> None:
    def bad(txn: lmdb.Transaction) -> None:
        txn.put(b"shared", b"from the failed job")
        raise RuntimeError("boom")

    def good(txn: lmdb.Transaction) -> bytes | None:
        return txn.get(b"shared")

    results = await asyncio.gather(
        writer.submit(lambda t: t.put(b"shared", b"base")),
        writer.submit(bad),
        writer.submit(good),
        return_exceptions=True,
    )
    assert isinstance(results[1], RuntimeError)
    assert results[2] == b"base"
    assert read(env, b"shared") == b"base"


async def test_max_batch_is_respected(env: lmdb.Environment) -> None:
    w = GroupCommitWriter(env, "small", max_batch=8)
    try:
        sizes: Counter[int] = Counter()

        def job(txn: lmdb.Transaction) -> None:
            sizes[txn.id()] += 1
            txn.put(b"k%d" % len(sizes), b"")

        await asyncio.gather(*(w.submit(job) for _ in range(200)))
        assert sum(sizes.values()) == 200
        assert max(sizes.values()) <= 8
        assert len(sizes) >= 25
    finally:
        w.close()


async def test_writes_are_durable_after_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "durable")
    env = lmdb.open(path, map_size=1 << 26)
    w = GroupCommitWriter(env, "d")
    await asyncio.gather(*(w.submit(lambda t, i=i: t.put(b"d%03d" % i, b"v")) for i in range(100)))
    w.close()
    env.close()
    env = lmdb.open(path, map_size=1 << 26)
    try:
        with env.begin() as txn:
            assert txn.stat(env.open_db())["entries"] == 100
    finally:
        env.close()


async def test_runs_on_a_thread_not_the_event_loop(writer: GroupCommitWriter) -> None:
    loop_thread = threading.get_ident()
    ran_on = await writer.submit(lambda t: threading.get_ident())
    assert ran_on != loop_thread


async def test_cancelled_waiter_does_not_break_the_writer(
    env: lmdb.Environment, writer: GroupCommitWriter
) -> None:
    gate = threading.Event()

    def slow(txn: lmdb.Transaction) -> None:
        gate.wait(5)
        txn.put(b"slow", b"done")

    task = asyncio.ensure_future(writer.submit(slow))
    await asyncio.sleep(0.05)
    task.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await writer.submit(lambda t: t.put(b"after", b"ok")) is True
    assert read(env, b"after") == b"ok"


async def test_submit_after_close_is_refused(env: lmdb.Environment) -> None:
    w = GroupCommitWriter(env, "closing")
    await w.submit(lambda t: t.put(b"a", b"1"))
    w.close()
    w.close()  # idempotent
    with pytest.raises(RuntimeError):
        await w.submit(lambda t: t.put(b"b", b"2"))
    assert read(env, b"a") == b"1"


async def test_close_drains_queued_jobs(env: lmdb.Environment) -> None:
    w = GroupCommitWriter(env, "drain")
    gate = threading.Event()

    def first(txn: lmdb.Transaction) -> None:
        gate.wait(5)

    futs = [asyncio.ensure_future(w.submit(first))]
    await asyncio.sleep(0.05)  # the writer is now busy with `first`
    futs += [
        asyncio.ensure_future(w.submit(lambda t, i=i: t.put(b"q%d" % i, b""))) for i in range(20)
    ]
    await asyncio.sleep(0)  # let the submits enqueue
    closer = asyncio.get_running_loop().run_in_executor(None, w.close)
    gate.set()
    await closer
    await asyncio.wait_for(asyncio.gather(*futs), 5)
    with env.begin() as txn:
        assert txn.stat(env.open_db())["entries"] == 20


def test_submit_sync_outside_a_loop(env: lmdb.Environment, writer: GroupCommitWriter) -> None:
    assert writer.submit_sync(lambda t: t.put(b"sync", b"1")) is True
    assert read(env, b"sync") == b"1"

    def failing(txn: lmdb.Transaction) -> None:
        txn.put(b"sync2", b"x")
        raise KeyError("k")

    with pytest.raises(KeyError):
        writer.submit_sync(failing)
    assert read(env, b"sync2") is None


async def test_after_commit_runs_in_the_writer_before_callers_resume(
    env: lmdb.Environment,
) -> None:
    seen: list[tuple[bool, bytes | None, str]] = []

    def hook(committed: bool) -> None:
        # The batch is committed: a fresh read transaction sees it.
        seen.append((committed, read(env, b"hooked"), threading.current_thread().name))

    w = GroupCommitWriter(env, "hooked", after_commit=hook)
    try:
        await w.submit(lambda t: t.put(b"hooked", b"1"))
        assert seen == [(True, b"1", "lmdb-writer-hooked")]
    finally:
        w.close()


async def test_a_failing_after_commit_hook_fails_nobody(env: lmdb.Environment) -> None:
    def hook(committed: bool) -> None:
        raise OSError("no such thing")

    w = GroupCommitWriter(env, "failing-hook", after_commit=hook)
    try:
        results = await asyncio.gather(
            *(w.submit(lambda t, i=i: t.put(b"f%d" % i, b"")) for i in range(5))
        )
        assert results == [True] * 5
        assert read(env, b"f4") == b""
    finally:
        w.close()
