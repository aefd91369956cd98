"""The cost of the access log and metrics: small-object PUT and GET with both on, next to
both off, on two `cairn serve` servers measured in the same run.

    python -m benchmarks.observability [--rounds 5] [--duration 5] [--workers 1]

"on" runs with `--access-log FILE --metrics-port P` (a line per request written to a
file, Prometheus counters and histograms per request, metadata timings, the state
snapshot every 5 s); "off" with `--access-log off` and no metrics port. Each round runs
PUT then GET on both servers, alternating which goes first; the figures are medians of
the rounds and the median of the per-round on/off ratios (the goal: within 5%, >= 0.95x).
Both servers get the same `--workers` (default 1: the machine is shared, and one worker
per server keeps the two from fighting for its two cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
from dataclasses import dataclass, field
from typing import Any

from benchmarks.run import Loadgen
from benchmarks.servers import Target, free_port

BUCKET = "obs"
SIZE = 4096
OBJECTS = 500
INFLIGHT = 16


@dataclass
class Served(Target):
    """`cairn serve` with extra options."""

    extra: list[str] = field(default_factory=list)

    def command(self) -> tuple[list[str], dict[str, str]]:
        cmd, env = super().command()
        return [*cmd, *self.extra], env


def start(on: bool, workers: int) -> Served:
    import tempfile
    from pathlib import Path

    log = Path(tempfile.mkdtemp(prefix="cairn-bench-obs-")) / "access.log"
    extra = ["--workers", str(workers)]
    extra += ["--access-log", str(log), "--metrics-port", str(free_port())] if on else [
        "--access-log", "off",
    ]  # fmt: skip
    return Served("cairn", extra=extra).start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.observability")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured row")
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    servers = {"on": start(True, args.workers), "off": start(False, args.workers)}
    lg = Loadgen(7)
    nonce = os.urandom(8).hex()
    try:
        for t in servers.values():
            lg.call(t, op="bucket", bucket=BUCKET)
            pre = {"bucket": BUCKET, "prefix": "pre", "size": SIZE, "nonce": nonce}
            r = lg.call(t, op="put", count=OBJECTS, concurrency=INFLIGHT, **pre)
            assert r["ops"] == OBJECTS, r
        figures: dict[str, dict[str, list[tuple[float, float]]]] = {
            row: {"on": [], "off": []} for row in ("put", "get")
        }
        for rnd in range(args.rounds):
            order = ["on", "off"] if rnd % 2 == 0 else ["off", "on"]
            for row in ("put", "get"):
                for name in order:
                    figures[row][name].append(_row(lg, servers[name], row, rnd, nonce, args))
            print(
                f"round {rnd + 1}: "
                + ", ".join(
                    f"{row} on {figures[row]['on'][-1][0]:,.0f} off {figures[row]['off'][-1][0]:,.0f}"
                    for row in figures
                ),
                flush=True,
            )
        _report(figures)
    finally:
        lg.close()
        for t in servers.values():
            t.stop()
    return 0


def _row(lg: Loadgen, t: Target, row: str, rnd: int, nonce: str, args: Any) -> tuple[float, float]:
    """(ops/s, server CPU seconds per 1,000 ops) of one measured row."""
    common = {"concurrency": INFLIGHT, "duration": args.duration, "verify_every": 64}
    if row == "put":
        cmd = {"op": "put", "bucket": BUCKET, "prefix": f"r{rnd}", "size": SIZE}
        r = lg.call(t, **cmd, nonce=os.urandom(8).hex(), **common)
    else:
        cmd = {"op": "get", "bucket": BUCKET, "prefix": "pre", "size": SIZE, "nonce": nonce}
        r = lg.call(t, **cmd, objects=OBJECTS, rng_seed=rnd, **common)
    if r.get("errors"):
        raise RuntimeError(f"{row}: {r['errors']} errors: {r['error_samples'][:2]}")
    return float(r["ops_per_s"]), r["server_cpu_s"] / max(r["ops"], 1) * 1000


def _report(figures: dict[str, dict[str, list[tuple[float, float]]]]) -> None:
    """Medians of ops/s and of server CPU per 1k ops; the median of per-round ratios."""
    print("\n| row | on ops/s | off ops/s | on/off ops/s | on CPU s/1k | off CPU s/1k |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row, f in figures.items():
        ratio = statistics.median(a[0] / b[0] for a, b in zip(f["on"], f["off"], strict=True))
        goal = "met" if ratio >= 0.95 else "not met"

        def med(name: str, i: int, f: dict[str, list[tuple[float, float]]] = f) -> float:
            return statistics.median(x[i] for x in f[name])

        print(
            f"| {row}-small ({SIZE} B) | {med('on', 0):,.0f} | {med('off', 0):,.0f} "
            f"| {ratio:.3f}x ({goal}: >= 0.95x) | {med('on', 1):.3f} | {med('off', 1):.3f} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
