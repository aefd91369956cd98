"""The embedded metadata backend: the KV interface on one LMDB environment.

Reads run on the event loop (an LMDB read is a few microseconds against the page
cache); writes go through the group-commit writer so concurrent commits share fsyncs.
"""

from __future__ import annotations

import os
from pathlib import Path

import lmdb

from meta.api import Txn, TxnConflict
from meta.lmdb_writer import GroupCommitWriter

DEFAULT_MAP_SIZE = 64 << 30  # sparse: only what is written takes disk


class LmdbKV:
    max_key_size = 511  # LMDB's compiled-in limit

    def __init__(self, path: str | os.PathLike[str], map_size: int = DEFAULT_MAP_SIZE) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(
            str(path), map_size=map_size, max_readers=1024, max_dbs=0, sync=True, metasync=True
        )
        self.max_key_size = self._env.max_key_size()
        self._writer = GroupCommitWriter(self._env, "meta")

    async def get(self, key: bytes) -> bytes | None:
        with self._env.begin(buffers=False) as txn:
            return txn.get(key)

    async def scan(
        self, start: bytes, end: bytes, limit: int = 1000, *, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        return self.scan_sync(start, end, limit, reverse=reverse)

    def scan_sync(
        self, start: bytes, end: bytes, limit: int = 1000, *, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        if limit <= 0 or start >= end:
            return out
        with self._env.begin() as txn, txn.cursor() as cur:
            if not reverse:
                ok = cur.set_range(start)
                while ok and len(out) < limit:
                    k = cur.key()
                    if k >= end:
                        break
                    out.append((k, cur.value()))
                    ok = cur.next()
            else:
                ok = cur.set_range(end)
                ok = cur.prev() if ok else cur.last()
                while ok and len(out) < limit:
                    k = cur.key()
                    if k < start:
                        break
                    if k < end:
                        out.append((k, cur.value()))
                    ok = cur.prev()
        return out

    async def commit(self, txn: Txn) -> None:
        txn.check_limits()
        await self._writer.submit(lambda t: _apply(t, txn))

    async def close(self) -> None:
        self._writer.close()
        self._env.close()


def _apply(t: lmdb.Transaction, txn: Txn) -> None:
    for key, expected in txn.compares:
        if t.get(key) != expected:
            raise TxnConflict(key)
    for key in txn.deletes:
        t.delete(key)
    for key, value in txn.puts:
        t.put(key, value)
