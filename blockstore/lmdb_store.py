"""A block store in one LMDB environment: key = 32-byte block id, value = the bytes.

The first byte of the id is the partition, so a partition is one key range (repair and
rebalancing scan ranges). Writes are group-committed: concurrent puts share an fsync.

Verification: a block's id is its BLAKE3 hash, checked when the block is received (a node
re-hashes every put; `cairn serve`'s in-process gateway hashes the bytes it hands over and
vouches with their CRC32C, which the store checks against the bytes it writes). Next to each
block, in the same write transaction, the store keeps the CRC32C of its bytes (a second
LMDB database, ``crc32c``), and every read checks it: a block that changed on disk is
reported (BlockCorrupt), never served, at a twentieth of BLAKE3's cost (hardware CRC32C,
~20 GB/s here; this is what Ceph's BlueStore does on every read). A block stored without a
CRC (before there were any, or by a caller that vouched for nothing) is re-hashed with
BLAKE3 on every read instead. The full BLAKE3 check of stored blocks belongs to scrub.

Block buffers: reads copy the wanted bytes once, from LMDB's map into a pooled buffer
(blockstore/buffers.py) handed out as a read-only view; nothing 4 MiB is freshly allocated.
(LMDB's writable map, MDB_WRITEMAP, was measured as an alternative to LMDB's own copy of
each value on put: no faster here, more resident memory, a data file the size of the map,
and no nested transactions for the group commit; not used.)
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
from pathlib import Path

import crc32c
import lmdb

from blockstore.address import ID_SIZE, THREAD_THRESHOLD, block_id, block_id_async
from blockstore.api import BlockCorrupt, BlockNotFound, BlockStoreFull, StoreStats
from blockstore.buffers import BLOCK_BUFFERS
from meta.lmdb_writer import GroupCommitWriter

DEFAULT_MAP_SIZE = 1 << 40  # sparse; the real limit is capacity and free disk
TRIM_EVERY = 32 << 20
CRC_DB = b"crc32c"  # block id -> CRC32C of the block's bytes, 4 bytes big-endian


class _MapTrimmer:
    """Keeps the process's resident set small while large objects are read.

    LMDB serves reads from a shared read-only memory map of data.mdb; every page read stays
    mapped into this process and counts in its RSS although it is only page cache. After
    every TRIM_EVERY bytes read, madvise(MADV_DONTNEED) drops those pages from our page
    table (not from the page cache: the next read maps them again with a minor fault). The
    map's address is read once from /proc/self/maps (it was read on every trim: 2% of a
    large GET's samples); the map never moves.
    """

    MADV_DONTNEED = 4

    def __init__(self, data_file: Path) -> None:
        self._file = str(data_file)
        self._since = 0
        self._maps: list[tuple[int, int]] | None = None
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

    def account(self, n: int) -> None:
        self._since += n
        if self._since < TRIM_EVERY or self._libc is None:
            return
        self._since = 0
        if not self._maps:
            self._maps = self._mappings()
        for addr, length in self._maps:
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
        self._env = lmdb.open(str(path), map_size=map_size, max_readers=1024, max_dbs=1, sync=True)
        self._crcs = self._env.open_db(CRC_DB)
        self._trimmer = _MapTrimmer(self.path / "data.mdb")
        self._writer = GroupCommitWriter(self._env, "blocks", max_batch=64)
        self._capacity = capacity
        self._map_size = map_size
        self._verify_puts = verify_puts
        self._inflight = 0

    async def put(
        self, block_id_: bytes, data: bytes | bytearray | memoryview, crc: int | None = None
    ) -> None:
        """``crc``: the CRC32C the caller computed in the same pass as the id (an unverified
        store trusts the id only with it; without it the block is stored without a CRC and
        re-hashed on every read)."""
        n = len(data)
        if self._verify_puts:
            if n < THREAD_THRESHOLD:
                ok, crc = _check(block_id_, data)
            else:
                ok, crc = await asyncio.to_thread(_check, block_id_, data)
            if not ok:
                raise BlockCorrupt(f"data does not hash to {block_id_.hex()}")
            vouched = None  # computed here from the verified bytes
        else:
            vouched = crc
        stats = await self.stats()
        # Bytes of puts still queued for the writer count too: without them, concurrent
        # puts would all pass the check against the same "used".
        if stats.used + self._inflight + n > stats.capacity:
            raise BlockStoreFull(str(self.path))
        crcs = self._crcs

        def job(txn: lmdb.Transaction) -> int | None:
            # A vouched CRC is checked against the very bytes written (in the writer thread,
            # ~0.2 ms per 4 MiB): a buffer changed since it was hashed is refused.
            if vouched is not None and crc32c.crc32c(data) != vouched:
                return None
            stored = txn.put(block_id_, data, overwrite=False)
            if crc is not None:
                txn.put(block_id_, crc.to_bytes(4, "big"), db=crcs, overwrite=False)
            return n if stored else 0

        self._inflight += n
        try:
            written = await self._writer.submit(job)
        except lmdb.MapFullError:
            raise BlockStoreFull(str(self.path)) from None
        finally:
            self._inflight -= n
        if written is None:
            raise BlockCorrupt(f"data changed after it was hashed: {block_id_.hex()}")

    async def get(self, block_id_: bytes, start: int = 0, end: int | None = None) -> memoryview:
        """The bytes as a read-only view of a pooled buffer (bytes-like; compares equal to
        the bytes), held for as long as the caller keeps it."""
        with self._env.begin(buffers=True) as txn:
            buf = txn.get(block_id_)
            if buf is None:
                raise BlockNotFound(block_id_.hex())
            stored = txn.get(block_id_, db=self._crcs)
            n = len(buf)
            lo, hi, _ = slice(start, end).indices(n)
            out = BLOCK_BUFFERS.take(max(hi - lo, 0))
            if stored is not None:
                # Checked on the map, then the wanted bytes copied once (the read
                # transaction keeps the pages in place meanwhile).
                ok = crc32c.crc32c(buf) == int.from_bytes(stored, "big")
                if ok:
                    out[:] = buf[lo:hi]
                del buf
            else:
                whole = BLOCK_BUFFERS.take(n)
                whole[:] = buf
                del buf
                ok = None
        self._trimmer.account(n)
        if ok is None:  # no CRC stored: the block's own hash
            ok = await block_id_async(whole) == block_id_
            if ok:
                out[:] = whole[lo:hi]
            del whole
        if not ok:
            raise BlockCorrupt(block_id_.hex())
        return out.toreadonly()

    async def has(self, block_ids: list[bytes]) -> list[bool]:
        with self._env.begin() as txn, txn.cursor() as cur:
            return [cur.set_key(b) for b in block_ids]

    async def delete(self, block_id_: bytes) -> None:
        crcs = self._crcs

        def job(txn: lmdb.Transaction) -> None:
            txn.delete(block_id_)
            txn.delete(block_id_, db=crcs)

        await self._writer.submit(job)

    async def list_ids(self, start: bytes, end: bytes, limit: int = 1000) -> list[bytes]:
        out: list[bytes] = []
        with self._env.begin() as txn, txn.cursor() as cur:
            ok = cur.set_range(start)
            while ok and len(out) < limit:
                k = cur.key()
                if k >= end:
                    break
                if len(k) == ID_SIZE:  # not the name of the CRC database
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
        # The main database also holds the CRC database's name.
        return StoreStats(capacity=capacity, used=used, blocks=st["entries"] - 1)

    async def close(self) -> None:
        self._writer.close()
        self._env.close()


def _check(block_id_: bytes, data: bytes | bytearray | memoryview) -> tuple[bool, int]:
    """A received block: does it hash to its id, and its CRC32C (one thread hop)."""
    return block_id(data) == block_id_, crc32c.crc32c(data)
