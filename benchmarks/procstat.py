"""Server-side cost from /proc: CPU seconds and peak RSS of a process and its children.

Measured from outside so every target (Cairn, moto, floor) is charged the same way, whatever
its process model. Children are found through /proc/<pid>/task/<tid>/children.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and all its live descendants (bounded: at most 1,000 processes)."""
    seen: list[int] = []
    todo = [pid]
    while todo and len(seen) < 1000:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo.extend(int(c) for c in (task / "children").read_text().split())
    return seen


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on


def cpu_seconds(pid: int) -> float:
    """utime+stime of the tree, plus cutime+cstime of the root (children already reaped)."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            f = _stat_fields(p)
            total += int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
            if p == pid:
                total += int(f[13]) + int(f[14])  # cutime, cstime (fields 16, 17)
    return total / _TICKS


def reset_peak_rss(pid: int) -> None:
    """Reset VmHWM to the current RSS (`echo 5 > clear_refs`) so each round has its own peak."""
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            Path(f"/proc/{p}/clear_refs").write_text("5")


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def peak_rss_mib(pid: int) -> tuple[float, float, int]:
    """(sum of VmHWM over the tree, max VmHWM of one process, process count), in MiB."""
    peaks = []
    for p in process_tree(pid):
        with contextlib.suppress(OSError, ValueError):
            peaks.append(_status_kib(p, "VmHWM"))
    if not peaks:
        return 0.0, 0.0, 0
    return sum(peaks) / 1024, max(peaks) / 1024, len(peaks)


def rss_split_mib(pid: int) -> tuple[float, float]:
    """Current (RssAnon, RssFile+RssShmem) over the tree, in MiB: heap vs mapped files.

    VmHWM counts file pages mapped into the process (LMDB's mmap) like heap; this split says
    which of the two a peak is made of.
    """
    anon = files = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, ValueError):
            anon += _status_kib(p, "RssAnon")
            files += _status_kib(p, "RssFile") + _status_kib(p, "RssShmem")
    return anon / 1024, files / 1024
