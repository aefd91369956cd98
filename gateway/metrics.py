"""Prometheus metrics of the S3 front end, summed over the pre-forked workers.

With ``--metrics-port P`` each worker records into prometheus_client's multiprocess files
(a directory named in PROMETHEUS_MULTIPROC_DIR before the workers start, since the client
picks its storage when it is first imported), and the supervising process serves the sum
at ``http://HOST:P/metrics``. The port is separate from the S3 endpoint, so no bucket name
is taken. Without the option nothing is recorded and a request pays one ``if``.

    cairn_s3_requests_total{operation, status}     requests answered, by HTTP status
    cairn_s3_request_seconds{operation}            time to the response headers
    cairn_s3_bytes_in_total{operation}             request bodies received (Content-Length)
    cairn_s3_bytes_out_total{operation}            response bodies sent (Content-Length)
    cairn_meta_seconds{op}                         metadata store calls (get, scan, commit)
    cairn_meta_errors_total{op}                    metadata calls that failed (not conflicts)
    cairn_meta_conflicts_total                     commits refused by a compare (retried)
    cairn_meta_free_bytes                          room left in the LMDB metadata map
                                                   (cairn serve, or a gateway on lmdb:DIR)
    cairn_worker_resident_memory_bytes{pid}        each worker's RSS
    cairn_worker_cpu_seconds{pid}                  each worker's CPU time (user + system)
    process_*                                      the supervising process

and the store's state (``StateCollector``: usage per bucket, GC backlog, housekeeping
progress, storage nodes, leadership), listed in docs/operations.md.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import json
import logging
import os
import resource
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("cairn.metrics")

_requests: Any = None
_latency: Any = None
_bytes_in: Any = None
_bytes_out: Any = None
_meta_latency: Any = None
_meta_errors: Any = None
_meta_conflicts: Any = None

STATE_FILE = "state.json"  # the store's state, written by worker 0 (cairn serve)
PROCESS_INTERVAL = 5.0  # seconds between two readings of a worker's CPU and memory

FREE_SPACE_INTERVAL = 10.0  # seconds between two readings of the metadata map's room

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def enable(directory: Path) -> None:
    """Set up the shared directory; call in the supervising process before the workers
    start (and before anything imports prometheus_client)."""
    shutil.rmtree(directory, ignore_errors=True)  # counts from a previous run would add up
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def start_worker() -> None:
    """Create this worker's metrics (in the worker: the multiprocess files are per pid)."""
    global _requests, _latency, _bytes_in, _bytes_out
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return
    from prometheus_client import Counter, Histogram

    start_meta_metrics()
    _requests = Counter(
        "cairn_s3_requests", "S3 requests answered, by operation and HTTP status",
        ["operation", "status"],
    )  # fmt: skip
    _latency = Histogram(
        "cairn_s3_request_seconds", "Time to the response headers, by operation",
        ["operation"], buckets=BUCKETS,
    )  # fmt: skip
    _bytes_in = Counter(
        "cairn_s3_bytes_in", "Request body bytes received (Content-Length), by operation",
        ["operation"],
    )  # fmt: skip
    _bytes_out = Counter(
        "cairn_s3_bytes_out", "Response body bytes sent (Content-Length), by operation",
        ["operation"],
    )  # fmt: skip


def start_meta_metrics() -> None:
    """The metadata store's call timings and failures (``TimedKV``), in this process."""
    global _meta_latency, _meta_errors, _meta_conflicts
    from prometheus_client import Counter, Histogram

    _meta_latency = Histogram(
        "cairn_meta_seconds", "Metadata store calls, by call", ["op"], buckets=BUCKETS
    )
    _meta_errors = Counter(
        "cairn_meta_errors", "Metadata store calls that failed (not conflicts)", ["op"]
    )
    _meta_conflicts = Counter("cairn_meta_conflicts", "Commits refused by a compare")


class TimedKV:
    """A metadata KV whose get, scan and commit are timed and their failures counted;
    everything else is the KV's own. (Duck-typed: the gateway names no storage module.)"""

    def __init__(self, kv: Any) -> None:
        self._kv = kv
        self.max_key_size = kv.max_key_size

    def __getattr__(self, name: str) -> Any:
        """The KV's own attribute; a method is kept on this object, so the next lookup
        of it is a plain attribute read rather than a call of this function."""
        value = getattr(self._kv, name)
        if callable(value):
            setattr(self, name, value)
        return value

    # Each call is timed inline (no wrapping coroutine): a GET makes one or two of them.
    async def get(self, key: bytes) -> Any:
        started = time.perf_counter()
        try:
            return await self._kv.get(key)
        except Exception as exc:
            _meta_failed("get", exc)
            raise
        finally:
            _pending.meta_get.append(time.perf_counter() - started)

    async def scan(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self._kv.scan(*args, **kwargs)
        except Exception as exc:
            _meta_failed("scan", exc)
            raise
        finally:
            _pending.meta_scan.append(time.perf_counter() - started)

    async def commit(self, txn: Any) -> None:
        started = time.perf_counter()
        try:
            await self._kv.commit(txn)
        except Exception as exc:
            _meta_failed("commit", exc)
            raise
        finally:
            _pending.meta_commit.append(time.perf_counter() - started)


def _meta_failed(op: str, exc: Exception) -> None:
    if type(exc).__name__ == "TxnConflict":  # a compare failed: the caller retries
        _meta_conflicts.inc()
    else:
        _meta_errors.labels(op).inc()


def timed_kv(kv: Any) -> Any:
    """``kv`` timed when this process records metrics, else ``kv`` itself."""
    return TimedKV(kv) if _meta_latency is not None else kv


async def worker_process_gauges() -> None:
    """Each worker's memory and CPU every PROCESS_INTERVAL (a worker's own process
    metrics are not collected across processes by prometheus_client)."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return
    from prometheus_client import Gauge

    rss = Gauge(
        "cairn_worker_resident_memory_bytes", "RSS of each worker", multiprocess_mode="liveall"
    )
    cpu = Gauge("cairn_worker_cpu_seconds", "CPU time of each worker", multiprocess_mode="liveall")
    page = os.sysconf("SC_PAGE_SIZE")
    while True:
        with open("/proc/self/statm") as f:
            rss.set(int(f.read().split()[1]) * page)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu.set(usage.ru_utime + usage.ru_stime)
        await asyncio.sleep(PROCESS_INTERVAL)


def publish_state(
    take: Callable[[], Awaitable[dict[str, Any]]], every: float
) -> Callable[[], Awaitable[None]]:
    """A background job for the worker that owns the housekeeper: write the store's state
    (``take()``) into the metrics directory every ``every`` seconds, for the supervising
    process to serve."""

    async def run() -> None:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return
        path = Path(directory) / STATE_FILE
        while True:
            try:
                data = json.dumps(await take()).encode()
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(data)
                tmp.replace(path)  # a scrape never reads half a file
            except Exception:  # noqa: BLE001 - metadata away: the last state stays
                log.warning("metrics: the store's state could not be read", exc_info=True)
            await asyncio.sleep(every)

    return run


class StateCollector:
    """The store's state as Prometheus metrics, from the latest snapshot ``read()``
    gives (cairn/cluster_metrics.py makes them); nothing before the first one."""

    def __init__(self, read: Callable[[], dict[str, Any] | None]) -> None:
        self.read = read

    def collect(self) -> Iterator[Any]:
        state = self.read()
        if state:
            yield from state_families(state)


def state_families(state: dict[str, Any]) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    def gauge(name: str, doc: str, value: float) -> Any:
        return GaugeMetricFamily(name, doc, value=value)

    def counter(name: str, doc: str, value: float) -> Any:
        return CounterMetricFamily(name, doc, value=value)

    yield gauge("cairn_leader", "1 in the process that runs the housekeeper", state["leader"])
    yield gauge("cairn_state_timestamp_seconds", "Unix time of this snapshot", state["time"])
    buckets = state["buckets"]
    yield gauge("cairn_buckets", "Buckets", len(buckets))
    objects = GaugeMetricFamily(
        "cairn_bucket_objects",
        "Objects per bucket (every version and delete marker)",
        labels=["bucket"],
    )
    size = GaugeMetricFamily(
        "cairn_bucket_bytes", "Bytes per bucket (every version)", labels=["bucket"]
    )
    for name, (n, b) in sorted(buckets.items()):
        objects.add_metric([name], n)
        size.add_metric([name], b)
    yield objects
    yield size
    yield gauge(
        "cairn_gc_backlog_blocks",
        "Blocks queued for GC (due or in their grace period)",
        state["gc_backlog"],
    )
    node_families = {
        "up": ("cairn_cluster_node_up", "1 when the node is up in this process's view"),
        "capacity": ("cairn_cluster_node_capacity_bytes", "Bytes the node may hold"),
        "used": ("cairn_cluster_node_used_bytes", "Bytes of blocks the node holds"),
        "blocks": ("cairn_cluster_node_blocks", "Blocks the node holds"),
    }
    for field, (name, doc) in node_families.items():
        fam = GaugeMetricFamily(name, doc, labels=["node"])
        for node, values in sorted(state["nodes"].items()):
            if field in values:
                fam.add_metric([node], values[field])
        yield fam
    hk = state.get("housekeeping") or {}
    if hk:
        yield counter("cairn_gc_passes", "GC passes run", hk["gc_passes"])
        yield counter("cairn_gc_deleted_blocks", "Blocks GC deleted", hk["gc_deleted"])
        yield counter(
            "cairn_usage_deltas_folded", "Usage deltas folded into totals", hk["usage_folded"]
        )
        yield counter(
            "cairn_repair_passes", "Repair and rebalance passes finished", hk["repair_passes"]
        )
        yield gauge("cairn_repair_running", "1 while a repair pass runs", hk["repair_running"])
        yield gauge(
            "cairn_repair_last_finished_seconds",
            "Unix time the last repair pass ended",
            hk["repair_last_finished"],
        )
        yield gauge(
            "cairn_repair_blocks_total",
            "Blocks the current or last repair pass looks at",
            hk["repair_total"],
        )
        yield gauge(
            "cairn_repair_pass_checked_blocks",
            "Blocks it has looked at so far",
            hk["repair_checked"],
        )
        yield gauge(
            "cairn_repair_copied_blocks",
            "Blocks it copied to a layout replica",
            hk["repair_copied"],
        )
        yield gauge("cairn_repair_copied_bytes", "Bytes it copied", hk["repair_copied_bytes"])
        yield gauge(
            "cairn_repair_dropped_blocks",
            "Surplus copies it dropped (rebalance)",
            hk["repair_dropped"],
        )
        yield gauge("cairn_repair_errors", "Blocks it failed to repair", hk["repair_errors"])
        yield counter(
            "cairn_repair_copied_blocks_all", "Blocks repair copied, over all passes",
            hk["repair_copied_all"],
        )  # fmt: skip
        yield counter(
            "cairn_under_replicated_blocks_found",
            "Known blocks repair found short of a layout replica, over all passes",
            hk["under_replicated_all"],
        )  # fmt: skip
        yield gauge(
            "cairn_under_replicated_blocks",
            "Known blocks it found short of a layout replica",
            hk["under_replicated"],
        )
        yield gauge(  # cairn/cluster_metrics.py: counted by the last repair pass
            "cairn_blocks_missing",
            "Referenced blocks the last repair pass found on no live node",
            hk.get("blocks_missing", 0),
        )


class _Pending:
    """What requests recorded since the last flush, in plain lists and dicts: a request
    appends its durations and bumps a few counters, and ``flush_loop`` sorts the
    durations into histogram buckets and writes the shared metric files (a lock and an
    mmap write per value) once a second per label set, instead of per request."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.latency: dict[str, list[float]] = {}  # op -> its requests' durations
        self.bytes_in: dict[str, int] = {}
        self.bytes_out: dict[str, int] = {}
        # metadata calls' durations (TimedKV appends to these directly: no call per get)
        self.meta_get: list[float] = []
        self.meta_scan: list[float] = []
        self.meta_commit: list[float] = []

    def meta(self) -> dict[str, list[float]]:
        return {"get": self.meta_get, "scan": self.meta_scan, "commit": self.meta_commit}


def histogram_row(samples: list[float]) -> list[float]:
    """Counts per bucket (le: the first bound >= the value, then +Inf) and the sum."""
    row = [0.0] * (len(BUCKETS) + 2)
    for i in map(functools.partial(bisect.bisect_left, BUCKETS), samples):
        row[i] += 1
    row[-1] = sum(samples)
    return row


_pending = _Pending()
FLUSH_SECONDS = 1.0


def enabled() -> bool:
    """Whether this process records request metrics (a worker with --metrics-port)."""
    return _requests is not None


def observe(
    operation: str, status: int, seconds: float, bytes_in: int = 0, bytes_out: int = 0
) -> None:
    if _requests is None:
        return
    p = _pending
    key = (operation, status)
    p.requests[key] = p.requests.get(key, 0) + 1
    durations = p.latency.get(operation)
    if durations is None:
        durations = p.latency[operation] = []
    durations.append(seconds)
    if bytes_in:
        p.bytes_in[operation] = p.bytes_in.get(operation, 0) + bytes_in
    if bytes_out:
        p.bytes_out[operation] = p.bytes_out.get(operation, 0) + bytes_out


def flush() -> None:
    """Write what requests recorded into the shared metric files."""
    global _pending
    p, _pending = _pending, _Pending()
    if _requests is not None:
        for (op, status), n in p.requests.items():
            _requests.labels(op, str(status)).inc(n)
        for op, n in p.bytes_in.items():
            _bytes_in.labels(op).inc(n)
        for op, n in p.bytes_out.items():
            _bytes_out.labels(op).inc(n)
        for op, durations in p.latency.items():
            _add_to_histogram(_latency.labels(op), histogram_row(durations))
    if _meta_latency is not None:
        for op, durations in p.meta().items():
            if durations:
                _add_to_histogram(_meta_latency.labels(op), histogram_row(durations))


def _add_to_histogram(child: Any, row: list[float]) -> None:
    """Counts per bucket and a sum into a histogram, as that many observe() calls would
    (prometheus_client keeps per-bucket values, made cumulative when collected)."""
    for i, n in enumerate(row[:-1]):
        if n:
            child._buckets[i].inc(n)
    child._sum.inc(row[-1])


async def flush_loop() -> None:
    """Flush every FLUSH_SECONDS for the worker's lifetime, and once more at its end."""
    if _requests is None and _meta_latency is None:
        return
    try:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            flush()
    finally:
        flush()


def free_space_gauge(free_bytes: Callable[[], int]) -> Callable[[], Awaitable[None]]:
    """A background job that publishes ``free_bytes()`` (the metadata map's room, so an
    operator sees it fill before writes get 503 SlowDown); nothing without metrics."""

    async def run() -> None:
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            return
        from prometheus_client import Gauge

        gauge = Gauge(
            "cairn_meta_free_bytes", "Bytes left in the LMDB metadata map (--meta-map-size)",
            multiprocess_mode="livemin",
        )  # fmt: skip
        while True:
            gauge.set(free_bytes())
            await asyncio.sleep(FREE_SPACE_INTERVAL)

    return run


def serve(host: str, port: int) -> None:
    """Serve the workers' summed metrics from this (the supervising) process, with the
    store's state as worker 0 last wrote it, and this process's own process_* metrics."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server
    from prometheus_client.process_collector import ProcessCollector

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    state = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]) / STATE_FILE
    registry.register(StateCollector(lambda: _read_state(state)))  # type: ignore[arg-type]
    ProcessCollector(registry=registry)
    start_http_server(port, addr=host, registry=registry)


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
