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
import gc
import logging
import os
import shutil
import threading
import weakref
from pathlib import Path

import crc32c
import lmdb

from blockstore.address import ID_SIZE, THREAD_THRESHOLD, block_id, block_id_async
from blockstore.api import BlockCorrupt, BlockNotFound, BlockStoreFull, StoreStats
from blockstore.buffers import BLOCK_BUFFERS
from blockstore.page_cache import DROP_MIN, PageCacheDropper, map_regions
from meta.lmdb_writer import GroupCommitWriter

DEFAULT_MAP_SIZE = 1 << 40  # sparse; the real limit is capacity and free disk
TRIM_EVERY = 16 << 20
CRC_DB = b"crc32c"  # block id -> CRC32C of the block's bytes, 4 bytes big-endian
# Reads served straight from the map at once, per store (each holds a read transaction, and
# LMDB has max_readers slots per environment, shared by all processes).
MAX_LEASES = 128

log = logging.getLogger("cairn.blockstore")


class _MapTrimmer:
    """Keeps the process's resident set small while large objects are read or written.

    LMDB serves reads from a shared read-only memory map of data.mdb; every page read stays
    mapped into this process and counts in its RSS although it is only page cache. After
    every TRIM_EVERY bytes read or written, madvise(MADV_DONTNEED) drops those pages from our page
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
        try:
            return [(addr, length) for addr, length, _ in map_regions(Path(self._file))]
        except OSError:
            return []

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
        self._dropper = PageCacheDropper(self.path / "data.mdb")
        self._fresh: list[bytes] = []  # large blocks in the batch being written (writer thread)
        self._written = 0  # bytes the batch put
        self._writer = GroupCommitWriter(
            self._env, "blocks", max_batch=64, after_commit=self._after_batch
        )
        self._capacity = capacity
        self._map_size = map_size
        self._verify_puts = verify_puts
        self._inflight = 0
        self._leases = 0
        self._lease_lock = threading.Lock()

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
            # Counted even when the block was stored already: LMDB then reads the stored
            # value's first page through the map to say so (MDB_NOOVERWRITE), and the
            # kernel reads ahead around it, so a repeated PUT maps pages too.
            self._written += n
            if stored and n >= DROP_MIN:
                self._fresh.append(block_id_)
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

    def _after_batch(self, committed: bool) -> None:
        """Writer thread, after a batch. Its new large blocks are durable, so the page
        cache need not keep them (blockstore/page_cache.py says why), and what it put counts
        towards the next trim of the whole map."""
        fresh, self._fresh = self._fresh, []
        # Each commit also reads B-tree pages through the map (new copies, at new places
        # in the file), and the kernel maps pages around each one: without a trim now and
        # then, a worker that only writes kept 25 MiB of data.mdb mapped after 2 GiB, and
        # one that got the same 1 GiB three times 77 MiB.
        self._trimmer.account(self._written)
        self._written = 0
        if not committed or not fresh or not self._dropper.enabled:
            return
        spans = []
        with self._env.begin(buffers=True) as txn:
            for bid in fresh:
                buf = txn.get(bid)
                if buf is not None:
                    spans.append((_address(buf), len(buf)))
                buf = None
        self._dropper.drop(spans)

    async def get(self, block_id_: bytes, start: int = 0, end: int | None = None) -> memoryview:
        """The bytes as a read-only view (bytes-like; compares equal to the bytes), valid for
        as long as the caller holds it.

        A block with a CRC is checked on LMDB's map and served from it without a copy: the
        view is a lease on the read transaction, which stays open (so the pages cannot be
        reused) until the last reference to the view is gone, typically when the socket
        has sent it. Past MAX_LEASES open leases (slow clients hold them) or without a CRC,
        the bytes are copied once into a pooled buffer instead."""
        txn = self._env.begin(buffers=True)
        try:
            buf = txn.get(block_id_)
            if buf is None:
                raise BlockNotFound(block_id_.hex())
            stored = txn.get(block_id_, db=self._crcs)
            n = len(buf)
            lo, hi, _ = slice(start, end).indices(n)
            hi = max(lo, hi)
            if stored is not None:
                if crc32c.crc32c(buf) != int.from_bytes(stored, "big"):
                    raise BlockCorrupt(block_id_.hex())
                self._trimmer.account(n)
                if self._leases < MAX_LEASES and hi - lo >= THREAD_THRESHOLD:
                    view = self._lease(buf[lo:hi], txn)
                    txn = None  # the lease ends it
                    return view
                out = BLOCK_BUFFERS.take(hi - lo)
                out[:] = buf[lo:hi]
                return out.toreadonly()
            whole = BLOCK_BUFFERS.take(n)
            whole[:] = buf
        finally:
            buf = None
            if txn is not None:
                txn.abort()
        self._trimmer.account(n)
        # No CRC stored: the block's own hash.
        if await block_id_async(whole) != block_id_:
            raise BlockCorrupt(block_id_.hex())
        return whole[lo:hi].toreadonly()

    def _lease(self, buf: memoryview, txn: lmdb.Transaction) -> memoryview:
        mapped = (ctypes.c_char * len(buf)).from_address(_address(buf))
        with self._lease_lock:
            self._leases += 1
        # Runs in whichever thread drops the last reference (the event loop's, after the
        # socket sent the bytes, or a hashing thread's).
        weakref.finalize(mapped, self._release, txn)
        return memoryview(mapped).cast("B").toreadonly()

    def _release(self, txn: lmdb.Transaction) -> None:
        txn.abort()
        with self._lease_lock:
            self._leases -= 1

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
        self._dropper.close()
        # Views leased from the map must be gone before it is unmapped.
        for _ in range(100):
            if not self._leases:
                break
            gc.collect()
            await asyncio.sleep(0.05)
        if self._leases:
            log.warning("%s: %d reads still hold the map; left open", self.path, self._leases)
            return
        self._env.close()


class _PyBuffer(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]


def _address(view: memoryview) -> int:
    """Where a (read-only) buffer's bytes are: LMDB's map, for a view handed out by lmdb."""
    info = _PyBuffer()
    _get_buffer(view, ctypes.byref(info), 0)
    try:
        return int(info.buf or 0)
    finally:
        _release_buffer(ctypes.byref(info))


def _check(block_id_: bytes, data: bytes | bytearray | memoryview) -> tuple[bool, int]:
    """A received block: does it hash to its id, and its CRC32C (one thread hop)."""
    return block_id(data) == block_id_, crc32c.crc32c(data)
