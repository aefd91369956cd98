"""Group commit for LMDB: one writer thread, many waiting coroutines, one fsync per batch.

LMDB allows a single writer at a time and every durable commit costs an fsync. Funnelling
all writes through one thread lets concurrent requests share a transaction (and its fsync)
without blocking the event loop. Each queued job runs in a nested transaction, so a job
that raises rolls back alone and the rest of the batch still commits. Used by the
metadata KV (meta.lmdb_kv) and by the block store (blockstore.lmdb_store).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import lmdb

T = TypeVar("T")

log = logging.getLogger("cairn.lmdb")

_Job = tuple[Callable[[lmdb.Transaction], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


class GroupCommitWriter:
    def __init__(
        self,
        env: lmdb.Environment,
        name: str,
        max_batch: int = 512,
        after_commit: Callable[[bool], None] | None = None,
    ) -> None:
        """after_commit(committed): called in the writer thread after every batch, before
        its callers hear of it (the block store drops what it wrote from the page cache)."""
        self._env = env
        self._max_batch = max_batch
        self._after_commit = after_commit
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"lmdb-writer-{name}", daemon=True)
        self._closed = False
        self._thread.start()

    async def submit(self, job: Callable[[lmdb.Transaction], T]) -> T:
        """Run job(txn) inside the next committed write transaction; return its result."""
        if self._closed:
            raise RuntimeError("writer is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((job, fut, loop))
        return await fut

    def submit_sync(self, job: Callable[[lmdb.Transaction], T]) -> T:
        """For callers outside an event loop (start-up, CLI): a private transaction."""
        with self._env.begin(write=True) as txn:
            return job(txn)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        committed = False
        try:
            with self._env.begin(write=True) as txn:
                for job, _fut, _loop in batch:
                    try:
                        with self._env.begin(write=True, parent=txn) as child:
                            outcomes.append((True, job(child)))
                    except BaseException as exc:  # noqa: BLE001 - delivered to the caller
                        outcomes.append((False, exc))
            committed = True
        except BaseException as exc:  # noqa: BLE001 - the commit itself failed: everyone fails
            outcomes = [(False, exc)] * len(batch)
        if self._after_commit is not None:
            try:
                self._after_commit(committed)
            except Exception:  # noqa: BLE001 - an optimisation must never fail a commit
                log.exception("after-commit hook failed")
        for (ok, value), (_job, fut, loop) in zip(outcomes, batch, strict=True):
            loop.call_soon_threadsafe(_resolve, fut, ok, value)


def _resolve(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.cancelled():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
