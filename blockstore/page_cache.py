"""Dropping freshly written large blocks from the page cache once they are durable.

A block store writes far more than it reads back soon, and a 4 MiB block kept in the page
cache only displaces something more useful. MinIO writes large objects with O_DIRECT for
this reason. LMDB cannot write with O_DIRECT, so once a commit has been fsynced (its pages
are clean), the store tells the kernel it will not need a large block's pages
(posix_fadvise DONTNEED), and the kernel frees them at once. A later read maps them in
again from disk.

It also halves the CPU cost of writing on a VM that hands freed memory back to its host
(virtio-balloon free page reporting, as on the project machine). LMDB writes a 4 MiB block
as one 4 MiB pwritev, for which the kernel allocates large page-cache folios. Taken from
memory the host has reclaimed, each page then costs a host fault on first touch:
5-15 ms of kernel CPU per 4 MiB instead of 1.3-2 ms. Folios freed here go back to the
kernel's free lists while the host still backs them, and the next block's write reuses
them (`python -m benchmarks.page_cache_writes` shows both costs).

Only blocks of at least DROP_MIN bytes are dropped: small blocks are cheap to cache and
are the ones most likely to be read again soon.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

DROP_MIN = 1 << 20
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# LMDB's page header before a value's bytes on its first overflow page.
OVERFLOW_HEADER = 16
MADV_DONTNEED = 4

log = logging.getLogger("cairn.blockstore")


class PageCacheDropper:
    """Drops the pages of values that LMDB has committed, given where they are in its map.

    The caller passes where each value lies in this process's memory (a read transaction's
    view of it); the map's start address, read once from /proc/self/maps, turns that into a
    file offset. Finding a value reads its first page through the map, and the kernel keeps
    any page (any large folio) that a process has mapped, so the value's range is unmapped
    from this process first (madvise DONTNEED: only the page table, not the data). Not on
    Linux, or if the map cannot be found, it does nothing.
    """

    def __init__(self, data_file: Path) -> None:
        self._file = data_file
        self._fd: int | None = None
        self._base: int | None = None
        self._libc: ctypes.CDLL | None = None
        self.enabled = hasattr(os, "posix_fadvise")

    def _open(self) -> bool:
        if self._fd is None:
            try:
                self._base = _map_base(self._file)
                if self._base is None:
                    self.enabled = False
                    return False
                self._libc = ctypes.CDLL(None, use_errno=True)
                self._fd = os.open(self._file, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                log.info("not dropping written blocks from the page cache: %s", exc)
                self.enabled = False
                return False
        return True

    def drop(self, spans: list[tuple[int, int]]) -> None:
        """spans: (address of a value's first byte in the map, its length)."""
        if not self.enabled or not spans or not self._open():
            return
        assert self._fd is not None and self._base is not None and self._libc is not None
        for address, length in spans:
            start = address - self._base - OVERFLOW_HEADER
            if start < 0 or start % PAGE:
                continue  # not an overflow value where LMDB puts one: leave it be
            self._libc.madvise(
                ctypes.c_void_p(self._base + start),
                ctypes.c_size_t(length + OVERFLOW_HEADER),
                MADV_DONTNEED,
            )
            try:
                os.posix_fadvise(self._fd, start, length + OVERFLOW_HEADER, os.POSIX_FADV_DONTNEED)
            except OSError as exc:
                log.info("posix_fadvise failed, no longer dropping: %s", exc)
                self.enabled = False
                return

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def map_regions(data_file: Path) -> list[tuple[int, int, int]]:
    """(address, length, file offset) of each mapping of data_file in this process."""
    name = str(data_file.resolve())
    out = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].rstrip("\n") == name:
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                out.append((lo, hi - lo, int(fields[2], 16)))
    return out


def _map_base(data_file: Path) -> int | None:
    """The start of the mapping of data_file at file offset 0 in this process."""
    return next((addr for addr, _, offset in map_regions(data_file) if offset == 0), None)
