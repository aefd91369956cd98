"""A storage node's Prometheus metrics, rendered when scraped (GET /metrics).

    cairn_node_capacity_bytes, cairn_node_used_bytes, cairn_node_blocks   from the store
    cairn_node_scrub_passes_total            finished scrub passes
    cairn_node_scrub_running                 1 while a pass runs
    cairn_node_scrub_checked_blocks          blocks the current (or last) pass checked
    cairn_node_scrub_checked_bytes           bytes it read
    cairn_node_scrub_bad_blocks              corrupt copies it found (and deleted)
    cairn_node_scrub_last_finished_seconds   unix time the last pass ended
    process_*                                this process (CPU, memory, open files)

Every sample has the label ``node`` (the node id). A scrape reads the store's counters
(no scan) once.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector

from blockstore.api import StoreStats
from blockstore.scrub import ScrubProgress


class _Snapshot:
    def __init__(self, node_id: str, stats: StoreStats, scrub: ScrubProgress) -> None:
        self.node_id, self.stats, self.scrub = node_id, stats, scrub

    def collect(self):  # noqa: ANN201 - prometheus_client's collector protocol
        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=["node"])
            g.add_metric([self.node_id], value)
            return g

        s, p = self.stats, self.scrub
        yield gauge("cairn_node_capacity_bytes", "Bytes this node may hold", s.capacity)
        yield gauge("cairn_node_used_bytes", "Bytes of blocks stored", s.used)
        yield gauge("cairn_node_blocks", "Blocks stored", s.blocks)
        passes = CounterMetricFamily(
            "cairn_node_scrub_passes", "Finished scrub passes", labels=["node"]
        )
        passes.add_metric([self.node_id], p.passes)
        yield passes
        yield gauge("cairn_node_scrub_running", "1 while a scrub pass runs", int(p.running))
        yield gauge(
            "cairn_node_scrub_checked_blocks", "Blocks checked by the current or last pass",
            p.current.checked,
        )  # fmt: skip
        yield gauge(
            "cairn_node_scrub_checked_bytes", "Bytes read by the current or last pass",
            p.current.bytes,
        )  # fmt: skip
        yield gauge(
            "cairn_node_scrub_bad_blocks", "Corrupt copies found by the current or last pass",
            p.current.bad,
        )  # fmt: skip
        yield gauge(
            "cairn_node_scrub_last_finished_seconds", "Unix time the last scrub pass ended",
            p.last_finished,
        )  # fmt: skip


def render(node_id: str, stats: StoreStats, scrub: ScrubProgress) -> bytes:
    registry = CollectorRegistry()
    registry.register(_Snapshot(node_id, stats, scrub))  # type: ignore[arg-type]
    ProcessCollector(registry=registry)
    return generate_latest(registry)
