"""Request and error rates over time, for the cluster view's charts.

A sampler reads the gateway's cumulative request counts every few seconds and keeps the
last ``keep`` rates (requests per second: all, 4xx, 5xx) in a ring, so the page draws
the last ten minutes without the server keeping anything else."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

from gateway.console.sources import RequestTotals


@dataclass
class RateSampler:
    totals: RequestTotals
    interval: float = 5.0
    keep: int = 120
    points: deque[tuple[float, float, float, float]] = field(init=False)
    _last: tuple[float, float, float, float] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.points = deque(maxlen=self.keep)

    async def sample(self) -> None:
        """One reading; a rate is the difference with the previous one (off the loop:
        reading the workers' metric files is file I/O)."""
        now = time.time()
        counts = await asyncio.to_thread(self.totals)
        if self._last is not None:
            then, *before = self._last
            dt = max(now - then, 1e-6)
            rates = [max(0.0, (c - b) / dt) for c, b in zip(counts, before, strict=True)]
            self.points.append((now, rates[0], rates[1], rates[2]))
        self._last = (now, *counts)

    def series(self) -> list[dict[str, float]]:
        return [{"t": t, "all": a, "4xx": c, "5xx": s} for t, a, c, s in self.points]

    async def run(self) -> None:
        while True:
            # A failed reading leaves a gap in the chart, never a dead sampler.
            with contextlib.suppress(Exception):
                await self.sample()
            await asyncio.sleep(self.interval)


def prometheus_totals() -> tuple[float, float, float]:
    """cairn_s3_requests_total summed over the workers' multiprocess files (all, 4xx,
    5xx); zeros when metrics are not being recorded."""
    import os

    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return 0.0, 0.0, 0.0
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    total = client = server = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name != "cairn_s3_requests_total":
                continue
            status = sample.labels.get("status", "")
            total += sample.value
            client += sample.value if status.startswith("4") else 0.0
            server += sample.value if status.startswith("5") else 0.0
    return total, client, server
