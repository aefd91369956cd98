"""Keep a worker's resident memory close to what it really holds.

Block buffers are 4 MiB. glibc serves large allocations with mmap, but raises that
threshold after each free of an mmapped chunk (up to 32 MiB), after which 4 MiB buffers
come from the heap and arenas of the hashing threads and are not given back: RSS creeps
up under load although little is live. A fixed threshold keeps block buffers mmapped, so
freeing one returns it to the system at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_malloc() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc: nothing to tune
    ok = mallopt(M_MMAP_THRESHOLD, 256 * 1024) == 1
    ok &= mallopt(M_TRIM_THRESHOLD, 1 << 20) == 1
    ok &= mallopt(M_ARENA_MAX, 2) == 1
    return bool(ok)
