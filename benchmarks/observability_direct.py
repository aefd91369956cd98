"""The access log's and the metrics' own CPU per request, timed in one process.

    python -m benchmarks.observability_direct [--requests 50000]

The server benchmark (benchmarks.observability) sees these costs through the noise of a
shared machine; this times the code a request runs when they are on, alone, with the
process's CPU clock: what ``_account`` records per request (metrics.observe, and the
access-log entry, a tuple), the flushes that follow (the metrics into prometheus_client's
multiprocess files once per 2,000 requests, about a second of load here; the log lines
formatted and written to a real file every BUFFER_LINES), and what ``metrics.TimedKV``
adds to a metadata get on a real LMDB store (a small GET makes one or two). Prints
microseconds per request; compare with the server CPU per request of benchmarks.observability
("off" row, ~220 us for a small GET on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

METRICS_FLUSH_EVERY = 2000


def _cpu_us(n: int, run: Callable[[], None]) -> float:
    """CPU microseconds per iteration of ``run`` (which does ``n`` iterations)."""
    started = time.process_time()
    run()
    return (time.process_time() - started) / n * 1e6


def metrics_us(n: int) -> float:
    from gateway import metrics

    def run() -> None:
        for i in range(n):
            metrics.observe("GetObject", 200, 0.002 + (i % 7) * 0.001, 0, 4096)
            if i % METRICS_FLUSH_EVERY == 0:
                metrics.flush()
        metrics.flush()

    return _cpu_us(n, run)


def access_log_us(n: int, path: Path) -> float:
    from gateway.access_log import BUFFER_LINES, AccessLog

    log = AccessLog.open(str(path))
    assert log is not None

    def run() -> None:
        for i in range(n):
            log.add((
                time.time(), f"{i:016X}", "127.0.0.1", "CAIRNBENCHACCESSKEY1", "cairn",
                "GetObject", "obs", f"pre/{i % 500:08d}", 200, "", 0, 4096, 0.0021,
            ))  # fmt: skip
            if len(log.pending) >= BUFFER_LINES:
                log.flush()
        log.flush()

    us = _cpu_us(n, run)
    os.close(log.fd)
    lines = path.read_bytes().count(b"\n")
    assert lines == n, (lines, n)  # every request's line was written
    return us


def timed_kv_us(n: int, kv: Any) -> float:
    """CPU per get through TimedKV minus per get on the LMDB store itself."""
    from gateway import metrics
    from meta.api import Txn

    timed = metrics.TimedKV(kv)

    async def fill() -> None:
        for first in range(0, 500, 100):  # a transaction holds at most 128 operations
            txn = Txn()
            for i in range(first, first + 100):
                txn.put(f"k{i:04d}".encode(), b"v" * 200)
            await kv.commit(txn)

    async def gets(store: Any) -> None:
        for i in range(n):
            await store.get(f"k{i % 500:04d}".encode())

    asyncio.run(fill())
    plain = _cpu_us(n, lambda: asyncio.run(gets(kv)))
    wrapped = _cpu_us(n, lambda: asyncio.run(gets(timed)))
    metrics.flush()
    return wrapped - plain


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.observability_direct")
    p.add_argument("--requests", type=int, default=50_000)
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-obs-direct-"))
    from gateway import metrics

    metrics.enable(tmp / "metrics")  # before prometheus_client is imported
    metrics.start_worker()
    n = args.requests
    # The machine is shared: the least of three runs is the one least disturbed.
    m = min(metrics_us(n) for _ in range(3))
    a = min(access_log_us(n, tmp / f"access-{i}.log") for i in range(3))
    from meta.lmdb_kv import LmdbKV

    kv = LmdbKV(tmp / "meta")
    k = min(timed_kv_us(n, kv) for _ in range(3))
    print(f"CPU per request, {n:,} requests, best of 3 (us):")
    print(f"  metrics (observe + flush every {METRICS_FLUSH_EVERY:,}):  {m:.2f}")
    print(f"  access log (entry + format + write):      {a:.2f}")
    print(f"  TimedKV, per metadata get:                {k:.2f}")
    print(f"  a small GET (1-2 gets):                   {m + a + k:.2f} - {m + a + 2 * k:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
