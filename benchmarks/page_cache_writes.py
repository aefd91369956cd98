"""What a large write into the page cache costs on this machine, by write size.

LMDB writes a 4 MiB block's overflow pages in one writev (strace: one 4,198,400-byte
iovec per block); the floor app writes 64 KiB at a time. On the project machine (a
Firecracker VM, kernel 6.18, ext4) runs of 4 MiB writes into a new file sometimes cost
5-12 ms of CPU per 4 MiB, and otherwise 1.2-1.6 ms, the same as writes of 2 MiB or less:
which run is slow varies (the first 4 MiB run after other work, mostly), so it depends on
the kernel's memory state, not on the bytes. This script shows it without Cairn:

    python -m benchmarks.page_cache_writes [--mib 512] [--dir DIR] [--rounds 3]

Each round writes --mib MiB of fresh data to a new file per write size (fsync at the end)
and prints the CPU time per 4 MiB (and /proc/vmstat's compaction stalls, which were 0 in
the runs here: it is not compaction). The first column ("drop") writes 4 MiB at a time as
the block store now does: fdatasync every 16 MiB, then posix_fadvise DONTNEED of what was
synced, which hands the folios back while they are still warm (blockstore/page_cache.py):
1.7-2.1 ms per 4 MiB where plain 4 MiB writes took 6.8-14.9 in the same run.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile

MiB = 1 << 20


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _stalls() -> int:
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                if line.startswith("compact_stall "):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def write_cost(
    path: str, total: int, size: int, data: memoryview, drop: bool = False
) -> tuple[float, int]:
    """(ms of CPU per 4 MiB, compaction stalls) writing total bytes in writes of size.

    ``drop``: as the block store does, fdatasync every 16 MiB and drop what was synced from
    the page cache (posix_fadvise DONTNEED)."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        s0, c0 = _stalls(), _cpu()
        synced = 0
        for off in range(0, total, size):
            os.pwrite(fd, data[off % len(data) : off % len(data) + size], off)
            if drop and off + size - synced >= 16 * MiB:
                os.fdatasync(fd)
                os.posix_fadvise(fd, synced, off + size - synced, os.POSIX_FADV_DONTNEED)
                synced = off + size
        os.fsync(fd)
        return (_cpu() - c0) * 1000 / (total / (4 * MiB)), _stalls() - s0
    finally:
        os.close(fd)
        os.unlink(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    data = memoryview(os.urandom(16 * MiB))
    runs = [(4 * MiB, True), (4 * MiB, False), (2 * MiB, False), (1 * MiB, False)]
    runs += [(256 << 10, False), (64 << 10, False)]
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        print(f"{args.mib} MiB per run in {d}; CPU ms per 4 MiB written (compaction stalls)")
        print(
            "round  "
            + "  ".join(f"{s >> 10:>5} KiB{' drop' if drop else '     '}" for s, drop in runs)
        )
        for r in range(args.rounds):
            cells = []
            for size, drop in runs:
                ms, stalls = write_cost(os.path.join(d, "f"), args.mib * MiB, size, data, drop)
                cells.append(f"{ms:7.2f} ({stalls:>3})")
            print(f"{r:>5}  " + "  ".join(f"{c:>13}" for c in cells))


if __name__ == "__main__":
    main()
