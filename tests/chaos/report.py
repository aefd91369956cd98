"""The campaign report: trials, operations, faults by kind, anomalies by kind with the
seeds that reproduce them, the harness's own errors, and time per trial."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from tests.chaos.trial import TrialResult


@dataclass
class Campaign:
    results: list[TrialResult] = field(default_factory=list)
    repair: str = ""  # the re-replication measurement, when one ran (--repair-gib)

    def add(self, result: TrialResult) -> None:
        self.results.append(result)

    def anomaly_count(self) -> int:
        return sum(len(r.anomalies) for r in self.results)

    def faults(self) -> Counter:
        total: Counter = Counter()
        for r in self.results:
            total.update(r.faults)
        return total

    def anomalies(self) -> dict[str, list[int]]:
        seeds: dict[str, list[int]] = defaultdict(list)
        for r in self.results:
            for kind in sorted({a.kind for a in r.anomalies}):
                seeds[kind].append(r.seed)
        return dict(seeds)

    @staticmethod
    def line(r: TrialResult) -> str:
        s = r.shape
        shape = f"{s.nodes}n R{s.replicas} W{s.write_quorum} z{s.zones}"
        faults = ",".join(f"{k}:{v}" for k, v in sorted(r.faults.items()))
        bad = "; ".join(f"{a.kind} {a.key}: {a.detail}"[:200] for a in r.anomalies[:5])
        errs = "; ".join(e[:200] for e in r.errors[:3])
        return (
            f"seed {r.seed} [{shape}] {r.seconds:.1f}s ops={r.ops} acked_writes={r.acked_writes}"
            f" faults={faults or '-'}"
            f" phases={','.join(f'{k}:{v:.1f}' for k, v in r.phases.items())} anomalies={len(r.anomalies)} {bad}"
            + (f" ERRORS: {errs}" if errs else "")
        )

    def to_dict(self) -> dict:
        n = len(self.results)
        return {
            "trials": n,
            "operations": sum(r.ops for r in self.results),
            "acknowledged_writes": sum(r.acked_writes for r in self.results),
            "faults": dict(self.faults()),
            "anomalies_by_kind": self.anomalies(),
            "trials_with_harness_errors": [r.seed for r in self.results if r.errors],
            "repair_after_node_loss": self.repair,
            "seconds_per_trial": round(sum(r.seconds for r in self.results) / n, 1) if n else 0,
            "results": [
                {**asdict(r), "anomalies": [asdict(a) for a in r.anomalies]} for r in self.results
            ],
        }

    def summary(self) -> str:
        d = self.to_dict()
        faults = ", ".join(f"{k} {v}" for k, v in sorted(d["faults"].items()))
        anomalies = ", ".join(f"{k} (seeds {v})" for k, v in d["anomalies_by_kind"].items())
        return (
            f"{d['trials']} trials, {d['operations']} operations "
            f"({d['acknowledged_writes']} acknowledged writes), {d['seconds_per_trial']} s/trial\n"
            f"faults: {faults or 'none'}\n"
            f"anomalies: {anomalies or 'none'}\n"
            f"trials with harness errors: {d['trials_with_harness_errors'] or 'none'}"
            + (f"\nrepair after a node is lost: {self.repair}" if self.repair else "")
        )
