"""Large blocks leave the page cache once committed; small ones stay; all read back whole.

Residency is read with mincore(2) on a fresh mapping of the store's data file, so the test
sees what the kernel holds, not what the store believes it did.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

from blockstore.address import block_id
from blockstore.lmdb_store import LmdbBlockStore
from blockstore.lmdb_store import _address as buffer_address
from blockstore.page_cache import DROP_MIN

MiB = 1 << 20
PAGE = mmap.PAGESIZE


def resident_bytes(path: Path) -> int:
    """Bytes of path that are in the page cache now."""
    libc = ctypes.CDLL(None, use_errno=True)
    size = path.stat().st_size
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ) as m:
        pages = (size + PAGE - 1) // PAGE
        vec = (ctypes.c_ubyte * pages)()
        with memoryview(m) as view:
            addr = buffer_address(view)  # a read-only map: ctypes' from_buffer refuses it
        assert libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(size), vec) == 0
        return sum(v & 1 for v in vec) * PAGE


async def test_large_blocks_leave_the_page_cache_and_read_back(tmp_path: Path) -> None:
    store = LmdbBlockStore(tmp_path / "s")
    data_file = tmp_path / "s" / "data.mdb"
    try:
        blocks = [os.urandom(4 * MiB) for _ in range(4)] + [os.urandom(DROP_MIN)]
        for b in blocks:
            await store.put(block_id(b), b)
        written = sum(len(b) for b in blocks)
        # Only the B-tree's pages and the partial pages at each block's ends stay.
        assert resident_bytes(data_file) < 256 * 1024, "written blocks are still cached"
        assert data_file.stat().st_size > written
        for b in blocks:
            got = await store.get(block_id(b))
            assert bytes(got) == b
            del got
        assert resident_bytes(data_file) >= written  # read back in from disk
    finally:
        await store.close()


async def test_small_blocks_stay_in_the_page_cache(tmp_path: Path) -> None:
    store = LmdbBlockStore(tmp_path / "s")
    try:
        small = [os.urandom(DROP_MIN // 2) for _ in range(4)]
        for b in small:
            await store.put(block_id(b), b)
        assert resident_bytes(tmp_path / "s" / "data.mdb") >= sum(map(len, small))
    finally:
        await store.close()


def mapped_bytes(path: Path) -> int:
    """Bytes of path mapped into this process now (its page table, from smaps)."""
    name, total, current = str(path.resolve()), 0, None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and "-" in fields[0] and len(fields) >= 5:
                current = fields[5] if len(fields) >= 6 else None
            elif fields and fields[0] == "Rss:" and current == name:
                total += int(fields[1]) * 1024
    return total


async def test_putting_a_stored_block_again_leaves_none_of_it_mapped(tmp_path: Path) -> None:
    """A PUT of content the store has already (deduplication) makes LMDB read the stored
    value's first page through its map (MDB_NOOVERWRITE returns the old value), and the
    kernel reads ahead around it: up to 2 MiB per block stayed in the process's RSS, 55 MiB
    per worker after a repeated 1 GiB `aws s3 cp`."""
    store = LmdbBlockStore(tmp_path / "s")
    data_file = tmp_path / "s" / "data.mdb"
    try:
        blocks = [os.urandom(4 * MiB) for _ in range(8)]
        for b in blocks:
            await store.put(block_id(b), b)
        for b in blocks:
            await store.put(block_id(b), b)  # stored already: nothing is written
        assert mapped_bytes(data_file) < 256 * 1024, "the stored blocks stay mapped"
        for b in blocks:
            got = await store.get(block_id(b))
            assert bytes(got) == b
            del got
    finally:
        await store.close()
