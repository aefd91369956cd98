"""The housekeeper's lifecycle pass (meta/lifecycle_run.py) and its Prometheus metrics.

Each housekeeping round runs batches of the lifecycle run for up to a second, so a big
bucket is worked through over many rounds while GC and repair keep their turns; the
cursor lives in the metadata, so a restart or a new leader resumes where it stopped.

The metrics mirror the progress record, so they are right on whichever process leads,
including a newly elected one (a gateway worker 0 for `cairn serve`, with
``--metrics-port``):

    cairn_lifecycle_expired{kind}               done by every run so far: objects expired
                                                (deleted or hidden behind a marker),
                                                noncurrent versions, delete markers,
                                                incomplete uploads aborted
    cairn_lifecycle_runs                        runs started
    cairn_lifecycle_running                     1 while a run is under way
    cairn_lifecycle_last_run_finished_seconds   when the last run finished (Unix time)
    cairn_lifecycle_skipped                     deletions refused (object lock) or failed
"""

from __future__ import annotations

import os
import time
from typing import Any

from meta.lifecycle import Clock
from meta.lifecycle_run import KINDS, Fence, LifecycleRun
from meta.store import MetaStore

ROUND_SECONDS = 1.0  # batches per housekeeping round stop after this long


def lifecycle_interval(day_seconds: float | None) -> float:
    """Seconds between runs: hourly for real days; with a scaled day a tenth of it (at
    least half a second), so that a test sees expiry within a day-length or two."""
    if not day_seconds:
        return 3600.0
    return max(0.5, min(3600.0, day_seconds / 10))


class LifecycleJob:
    def __init__(
        self, meta: MetaStore, day_seconds: float | None = None, fence: Fence | None = None
    ) -> None:
        self.run = LifecycleRun(
            meta,
            Clock.scaled(day_seconds),
            interval_s=lifecycle_interval(day_seconds),
            fence=fence,
        )
        self._gauges: dict[str, Any] | None = None

    async def pass_(self) -> int:
        """Batches until a run is done or the round's second is up; rows examined."""
        started, rows = time.monotonic(), 0
        try:
            while True:
                done = await self.run.step()
                rows += done
                if done < self.run.batch or time.monotonic() - started > ROUND_SECONDS:
                    return rows
        finally:
            self._publish()

    def _publish(self) -> None:
        gauges = self._metrics()
        if gauges is None:
            return
        st = self.run.state
        for kind, total in zip(KINDS, st.totals, strict=True):
            gauges["expired"].labels(kind).set(total)
        gauges["runs"].set(st.runs)
        gauges["running"].set(1 if st.active else 0)
        gauges["finished"].set(st.finished_ms / 1000)
        gauges["skipped"].set(self.run.skipped)

    def _metrics(self) -> dict[str, Any] | None:
        """The gauges, made on first use (only where metrics are collected)."""
        if self._gauges is None and "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            from prometheus_client import Gauge

            def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
                return Gauge(name, doc, labels, multiprocess_mode="livemax")

            self._gauges = {
                "expired": gauge(
                    "cairn_lifecycle_expired", "Done by lifecycle rules, by kind", ("kind",)
                ),
                "runs": gauge("cairn_lifecycle_runs", "Lifecycle runs started"),
                "running": gauge("cairn_lifecycle_running", "1 while a lifecycle run is under way"),
                "finished": gauge(
                    "cairn_lifecycle_last_run_finished_seconds",
                    "When the last lifecycle run finished (Unix time)",
                ),
                "skipped": gauge(
                    "cairn_lifecycle_skipped", "Lifecycle deletions refused or failed"
                ),
            }
        return self._gauges
