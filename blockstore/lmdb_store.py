"""A block store in one LMDB environment: key = 32-byte block id, value = the bytes.

The first byte of the id is the partition, so a partition is one key range (repair and
rebalancing scan ranges). Writes are group-committed: concurrent puts share an fsync.
Reads verify the hash, so a corrupted block is reported, never served.
"""

from __future__ import annotations

import ctypes
import os
import shutil
from pathlib import Path

import lmdb

from blockstore.address import block_id_async
from blockstore.api import BlockCorrupt, BlockNotFound, BlockStoreFull, StoreStats
from meta.lmdb_writer import GroupCommitWriter

DEFAULT_MAP_SIZE = 1 << 40  # sparse; the real limit is capacity and free disk
TRIM_EVERY = 32 << 20


class _MapTrimmer:
    """Keeps the process's resident set small while large objects are read.

    LMDB serves reads from a shared read-only memory map of data.mdb; every page read stays
    mapped into this process and counts in its RSS although it is only page cache. After
    every TRIM_EVERY bytes read, madvise(MADV_DONTNEED) drops those pages from our page
    table (not from the page cache: the next read maps them again with a minor fault).
    """

    MADV_DONTNEED = 4

    def __init__(self, data_file: Path) -> None:
        self._file = str(data_file)
        self._since = 0
        try:
            self._libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
        except OSError:
            self._libc = None

    def _mappings(self) -> list[tuple[int, int]]:
        out = []
        try:
            with open("/proc/self/maps") as maps:
                for line in maps:
                    if line.rstrip().endswith(self._file):
                        lo, hi = line.split()[0].split("-")
                        out.append((int(lo, 16), int(hi, 16) - int(lo, 16)))
        except OSError:
            pass
        return out

    def read(self, n: int) -> None:
        self._since += n
        if self._since < TRIM_EVERY or self._libc is None:
            return
        self._since = 0
        for addr, length in self._mappings():
            self._libc.madvise(ctypes.c_void_p(addr), ctypes.c_size_t(length), self.MADV_DONTNEED)


class LmdbBlockStore:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        capacity: int | None = None,
        map_size: int = DEFAULT_MAP_SIZE,
        verify_puts: bool = True,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(str(path), map_size=map_size, max_readers=1024, sync=True)
        self._writer = GroupCommitWriter(self._env, "blocks", max_batch=64)
        self._capacity = capacity
        self._map_size = map_size
        self._verify_puts = verify_puts
        self._inflight = 0
        self._trimmer = _MapTrimmer(self.path / "data.mdb")

    async def put(self, block_id_: bytes, data: bytes | bytearray) -> None:
        if self._verify_puts and await block_id_async(data) != block_id_:
            raise BlockCorrupt(f"data does not hash to {block_id_.hex()}")
        stats = await self.stats()
        # Bytes of puts still queued for the writer count too: without them, concurrent
        # puts would all pass the check against the same "used".
        if stats.used + self._inflight + len(data) > stats.capacity:
            raise BlockStoreFull(str(self.path))

        def job(txn: lmdb.Transaction) -> None:
            txn.put(block_id_, data, overwrite=False)

        self._inflight += len(data)
        try:
            await self._writer.submit(job)
        except lmdb.MapFullError:
            raise BlockStoreFull(str(self.path)) from None
        finally:
            self._inflight -= len(data)

    async def get(self, block_id_: bytes, start: int = 0, end: int | None = None) -> bytes:
        with self._env.begin(buffers=True) as txn:
            buf = txn.get(block_id_)
            if buf is None:
                raise BlockNotFound(block_id_.hex())
            data = bytes(buf)
        self._trimmer.read(len(data))
        if await block_id_async(data) != block_id_:
            raise BlockCorrupt(block_id_.hex())
        return data if (start == 0 and end is None) else data[start:end]

    async def has(self, block_ids: list[bytes]) -> list[bool]:
        with self._env.begin() as txn, txn.cursor() as cur:
            return [cur.set_key(b) for b in block_ids]

    async def delete(self, block_id_: bytes) -> None:
        await self._writer.submit(lambda txn: txn.delete(block_id_))

    async def list_ids(self, start: bytes, end: bytes, limit: int = 1000) -> list[bytes]:
        out: list[bytes] = []
        with self._env.begin() as txn, txn.cursor() as cur:
            ok = cur.set_range(start)
            while ok and len(out) < limit:
                k = cur.key()
                if k >= end:
                    break
                out.append(k)
                ok = cur.next()
        return out

    async def stats(self) -> StoreStats:
        st = self._env.stat()
        info = self._env.info()
        used = (info["last_pgno"] + 1) * st["psize"]
        free_disk = shutil.disk_usage(self.path).free
        capacity = min(self._map_size, used + free_disk)
        if self._capacity is not None:
            capacity = min(capacity, self._capacity)
        return StoreStats(capacity=capacity, used=used, blocks=st["entries"])

    async def close(self) -> None:
        self._writer.close()
        self._env.close()
