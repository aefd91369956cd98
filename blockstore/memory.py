"""glibc malloc settings for processes that move large objects (gateway workers, nodes).

LMDB copies every value it writes into pages it mallocs for the transaction and frees
after the commit: 4 MiB and a page for each block. Served by mmap, as glibc does by default
for anything that size, that memory is new every time, and the kernel faults in and zeroes
its 1,025 pages on first touch: ~2.5 ms per block on the project machine, more than BLAKE3
and CRC32C of the block together (put-large: 0.7 s of CPU per GB, 10% of its samples).

So allocations under MMAP_THRESHOLD come from the heap, where freed blocks are reused warm,
and each arena keeps up to TRIM_THRESHOLD free at its top before it hands memory back.
The threshold is fixed: glibc's dynamic one rises to 32 MiB under this load, and the heap
then keeps whatever it once held. What the heap keeps is bounded by what is in flight
(LMDB's pages for one commit, plus TRIM_THRESHOLD per arena), and long-lived buffers stay
out of it: block and gather buffers are pooled separate mappings (blockstore/buffers.py).
Once writes stop for half a second, ``trim_when_idle`` hands back what the heap kept
(malloc_trim) and the pools' idle buffers, so an idle process is no bigger for the burst
it served.
Measured (put-large alone, 3 rounds): 248 -> 307 MB/s, 5.9 -> 4.9 s/GB; `aws s3 cp` 1 GiB up
8.5 -> 7.6 s; peak RSS of the cp scenario 277-298 MiB, under the 300 MiB target.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import time
from collections.abc import Callable

from blockstore.buffers import shrink_pools

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD = 8 << 20
TRIM_THRESHOLD = 16 << 20


def tune_malloc() -> bool:
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False  # not glibc: nothing to tune
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok &= mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    ok &= mallopt(M_ARENA_MAX, 2) == 1
    return bool(ok)


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None)
    except OSError:
        return None


async def trim_when_idle(activity: Callable[[], tuple[int, int]], idle: float = 0.5) -> None:
    """Return the heap's free memory and idle pooled buffers after every burst of writes.

    ``activity()`` is (writes started so far, writes under way); once ``idle`` seconds pass
    with none started and none under way, malloc_trim runs once, then not again until the
    next write. Half a second: a client that uploads and then downloads (two `aws s3 cp`
    runs, each a new process that takes most of a second to start) gets its download
    served by a worker that has already given the upload's memory back; with a whole
    second, checked once a second, the download's peak still held the upload's 40 MiB
    per worker. Trimming between writes spaced further apart costs a few ms of page
    faults for the next one."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return  # not glibc
    last = activity()[0]
    quiet_since = time.monotonic()
    trimmed = True
    while True:
        await asyncio.sleep(idle / 5)
        started, running = activity()
        now = time.monotonic()
        if started != last or running:
            last, trimmed, quiet_since = started, False, now
        elif not trimmed and now - quiet_since >= idle:
            shrink_pools()
            await asyncio.to_thread(trim, 0)
            trimmed = True
