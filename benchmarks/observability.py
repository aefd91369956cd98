"""The cost of the access log and metrics: small-object PUT and GET with both on, next to
both off, on `cairn serve` servers measured in the same run.

    python -m benchmarks.observability [--rounds 6] [--duration 4] [--workers 1] [--no-split]
        [--control]

"on" runs with `--access-log FILE --metrics-port P` (a line per request written to a
file, Prometheus counters and histograms per request, metadata timings, the state
snapshot every 5 s); "off" with `--access-log off` and no metrics port; "log" with the
access log alone and "metrics" with the metrics alone, so the two costs show apart
(`--no-split` leaves those two out). `--control` adds "off-twin", a second "off": how
far two identical servers differ is the floor under which no difference means anything.
Each round runs PUT then GET on every server, rotating which goes first. The machine is
shared, so a round's ops/s move with whatever else runs: each row gives the median of the
per-round ratios to "off" (a round measures both within seconds) and the servers' CPU
seconds per 1,000 requests (the process tree's utime+stime, steadier than ops/s, since it
does not count time spent waiting for a core) with the median of its per-round ratios
too. The goal: ops/s within 5% (>= 0.95x). All servers get the same `--workers`
(default 1: one worker per server keeps them from fighting for the machine's two cores).
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


CONFIGS = {
    "on": ("log", "metrics"),
    "log": ("log",),
    "metrics": ("metrics",),
    "off": (),
    "off-twin": (),  # --control: a second "off", the floor of process-to-process noise
}


def start(parts: tuple[str, ...], workers: int) -> Served:
    """A server with the access log to a file and/or a metrics port, as ``parts`` says."""
    import tempfile
    from pathlib import Path

    log = Path(tempfile.mkdtemp(prefix="cairn-bench-obs-")) / "access.log"
    extra = ["--workers", str(workers), "--access-log", str(log) if "log" in parts else "off"]
    if "metrics" in parts:
        extra += ["--metrics-port", str(free_port())]
    return Served("cairn", extra=extra).start()


Figures = dict[str, dict[str, list[tuple[float, float]]]]  # row -> server -> [(ops/s, cpu)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.observability")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--duration", type=float, default=4.0, help="seconds per measured row")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--no-split", action="store_true", help="only the on and off servers")
    p.add_argument("--control", action="store_true", help='a second "off" server too')
    args = p.parse_args(argv)
    names = ["on", "off"] if args.no_split else ["on", "log", "metrics", "off"]
    names += ["off-twin"] if args.control else []
    servers = {name: start(CONFIGS[name], args.workers) for name in names}
    lg = Loadgen(7)
    nonce = os.urandom(8).hex()
    try:
        for t in servers.values():
            lg.call(t, op="bucket", bucket=BUCKET)
            pre = {"bucket": BUCKET, "prefix": "pre", "size": SIZE, "nonce": nonce}
            r = lg.call(t, op="put", count=OBJECTS, concurrency=INFLIGHT, **pre)
            assert r["ops"] == OBJECTS, r
        figures: Figures = {row: {name: [] for name in names} for row in ("put", "get")}
        for rnd in range(args.rounds):
            order = names[rnd % len(names) :] + names[: rnd % len(names)]
            for row in ("put", "get"):
                for name in order:
                    figures[row][name].append(_row(lg, servers[name], row, rnd, nonce, args))
            print(f"round {rnd + 1}: " + _round_text(figures), flush=True)
        _report(figures, args)
    finally:
        lg.close()
        for t in servers.values():
            t.stop()
    return 0


def _round_text(figures: Figures) -> str:
    return "; ".join(
        f"{row} "
        + ", ".join(f"{name} {f[-1][0]:,.0f}/s {f[-1][1]:.3f}" for name, f in rows.items())
        for row, rows in figures.items()
    )


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


def _report(figures: Figures, args: Any) -> None:
    """Per row and server: medians of ops/s and of server CPU s per 1k requests, and the
    medians of the per-round ratios of each to "off"."""
    print(
        f"\n{args.rounds} rounds of {args.duration:g} s per row and server, "
        f"{args.workers} worker(s) each, {INFLIGHT} requests in flight, {SIZE} B objects\n"
    )
    print("| row | server | ops/s | vs off (median of rounds) | CPU s/1k req | CPU vs off |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row, rows in figures.items():
        off = rows["off"]
        for name, f in rows.items():
            ops = statistics.median(x[0] for x in f)
            cpu = statistics.median(x[1] for x in f)
            if name == "off":
                print(f"| {row}-small | off | {ops:,.0f} | 1 | {cpu:.3f} | 1 |")
                continue
            ratio = statistics.median(a[0] / b[0] for a, b in zip(f, off, strict=True))
            cpu_ratio = statistics.median(a[1] / b[1] for a, b in zip(f, off, strict=True))
            goal = " (goal >= 0.95x: " + ("met)" if ratio >= 0.95 else "not met)")
            print(
                f"| {row}-small | {name} | {ops:,.0f} | {ratio:.3f}x"
                f"{goal if name == 'on' else ''} | {cpu:.3f} | {cpu_ratio:.3f}x |"
            )


if __name__ == "__main__":
    raise SystemExit(main())
