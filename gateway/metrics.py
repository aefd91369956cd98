"""Prometheus metrics of the S3 front end, summed over the pre-forked workers.

With ``--metrics-port P`` each worker records into prometheus_client's multiprocess files
(a directory named in PROMETHEUS_MULTIPROC_DIR before the workers start, since the client
picks its storage when it is first imported), and the supervising process serves the sum
at ``http://HOST:P/metrics``. The port is separate from the S3 endpoint, so no bucket name
is taken. Without the option nothing is recorded and a request pays one ``if``.

    cairn_s3_requests_total{operation, status}     requests answered, by HTTP status
    cairn_s3_request_seconds{operation}            time to the response headers
    cairn_meta_free_bytes                          room left in the LMDB metadata map
                                                   (cairn serve, or a gateway on lmdb:DIR)
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

_requests: Any = None
_latency: Any = None
_bytes_in: Any = None
_bytes_out: Any = None

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


def observe(
    operation: str, status: int, seconds: float, bytes_in: int = 0, bytes_out: int = 0
) -> None:
    if _requests is None:
        return
    _requests.labels(operation, str(status)).inc()
    _latency.labels(operation).observe(seconds)
    if bytes_in:
        _bytes_in.labels(operation).inc(bytes_in)
    if bytes_out:
        _bytes_out.labels(operation).inc(bytes_out)


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
    """Serve the workers' summed metrics from this (the supervising) process."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)
