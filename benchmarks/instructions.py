"""Server instructions per request, counted by valgrind: the noise-free form of two cost
figures that ops/s on this shared 2-core machine cannot settle (identical servers differ
by up to 13% in ops/s between rounds; instruction counts repeat to a fraction of 1%).

    python -m benchmarks.instructions [--requests 300] [--rounds 3] [--only policy,observability]

- **policy**: one `cairn serve`; small GETs and PUTs on a bare bucket and on one with the
  20-statement policy of the policy scenario (benchmarks/policy_bench.py), in alternating
  order. Goal: within 10%.
- **observability**: two servers, the access log and metrics on (`--access-log FILE
  --metrics-port P`) and off; the same small GETs and PUTs. Goal: within 5%. Work a server
  does by the clock (metrics and log flushes, snapshots, heartbeats) would be charged to
  the requests far more under valgrind, where a request takes ~50x longer, so each server's
  idle rate (instructions per second with no requests) is measured and taken off.

Each server runs under `valgrind --tool=callgrind --instr-atstart=no` with one worker;
counting is switched on after setup, then each phase is zeroed, run with a fixed number
of requests and dumped (`callgrind_control`). Figures are instructions (Ir) per request,
summed over the server's processes; ratios are medians over the rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.observability import Served
from benchmarks.policy_bench import POLICY_BUCKET, install_policy
from benchmarks.run import BUCKET, Loadgen
from benchmarks.servers import Target, free_port

SIZE = 4096
OBJECTS = 200
INFLIGHT = 4
IDLE_SECONDS = 5.0


@dataclass
class Counted(Served):
    """`cairn serve --workers 1` under callgrind, counting off until switched on."""

    out: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cairn-ir-")))

    def command(self) -> tuple[list[str], dict[str, str]]:
        cmd, env = super().command()
        valgrind = [
            "valgrind", "--tool=callgrind", "--trace-children=yes", "--instr-atstart=no",
            f"--callgrind-out-file={self.out}/callgrind.out.%p", "--log-file=/dev/null",
            f"--vgdb-prefix={self.out}/vgdb",  # the server's TMPDIR is its own
        ]  # fmt: skip
        small = ["--block-map-size", "4GiB", "--meta-map-size", "4GiB"]  # valgrind's space
        return [*valgrind, *cmd, "--workers", "1", *small], env

    def control(self, *args: str) -> None:
        """Send a callgrind command. vgdb delivers it only when the process runs, and an
        idle server sleeps in epoll: health probes wake it until the command is taken."""
        for pid in self.pids():
            cmd = ["callgrind_control", f"--vgdb-prefix={self.out}/vgdb", *args, str(pid)]
            sent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while sent.poll() is None:
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"{self.endpoint}/_cairn/health/live", timeout=5)
                time.sleep(0.1)
            if sent.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed")

    def pids(self) -> list[int]:
        """The server's processes (valgrind runs each in place: the pids are theirs)."""
        found = [self.pid]
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True)
        return found + [int(p) for p in out.stdout.split()]

    def counted(self, run) -> tuple[int, float]:  # type: ignore[no-untyped-def]
        """(instructions, seconds) of what ``run()`` makes the server do."""
        before = set(glob.glob(f"{self.out}/callgrind.out.*"))
        self.control("--zero")
        t0 = time.monotonic()
        run()
        seconds = time.monotonic() - t0
        self.control("--dump")
        deadline = time.monotonic() + 30
        while True:
            new = set(glob.glob(f"{self.out}/callgrind.out.*")) - before
            if len(new) >= len(self.pids()) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return sum(_total(Path(p)) for p in new), seconds


def _total(dump: Path) -> int:
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    return 0


def _preload(lg: Loadgen, t: Target, bucket: str) -> dict[str, object]:
    ds = {"bucket": bucket, "prefix": "ir", "size": SIZE, "nonce": "77" * 8}
    r = lg.call(t, op="put", count=OBJECTS, concurrency=INFLIGHT, **ds)
    if r.get("ops") != OBJECTS:
        raise RuntimeError(f"preload {bucket}: {r}")
    return {**ds, "objects": OBJECTS}


def _requests(lg: Loadgen, t: Counted, op: str, ds: dict, n: int, rnd: int) -> None:  # type: ignore[type-arg]
    if op == "get":
        cmd = {"op": "get", **ds, "count": n}
    else:
        cmd = {"op": "put", "bucket": ds["bucket"], "prefix": f"p{rnd}", "size": SIZE}
        cmd |= {"nonce": f"{rnd:02d}" * 8, "count": n}
    r = lg.call(t, concurrency=INFLIGHT, **cmd)
    if r.get("errors") or r.get("ops") != n:
        raise RuntimeError(f"{op}: {r}")


def _idle_rate(t: Counted) -> float:
    ir, seconds = t.counted(lambda: time.sleep(IDLE_SECONDS))
    return ir / seconds


def policy(lg: Loadgen, n: int, rounds: int) -> list[str]:
    t = Counted("cairn").start(timeout=600)
    try:
        for b in (BUCKET, POLICY_BUCKET):
            lg.call(t, op="bucket", bucket=b)
        install_policy(t, POLICY_BUCKET)
        data = {b: _preload(lg, t, b) for b in (BUCKET, POLICY_BUCKET)}
        t.control("--instr=on")
        got: dict[tuple[str, str], list[float]] = {}
        for rnd in range(rounds):
            order = [BUCKET, POLICY_BUCKET][:: 1 if rnd % 2 == 0 else -1]
            for op in ("put", "get"):
                for b in order:
                    ir, _ = t.counted(lambda b=b, op=op, r=rnd: _requests(lg, t, op, data[b], n, r))
                    got.setdefault((op, b), []).append(ir / n)
        return _table("policy", got, BUCKET, POLICY_BUCKET, "20-statement policy", 0.10)
    finally:
        t.stop()


def observability(lg: Loadgen, n: int, rounds: int) -> list[str]:
    log = Path(tempfile.mkdtemp(prefix="cairn-ir-log-")) / "access.log"
    servers = {
        "on": Counted(
            "cairn", extra=["--access-log", str(log), "--metrics-port", str(free_port())]
        ),
        "off": Counted("cairn", extra=["--access-log", "off"]),
    }
    try:
        data = {}
        for name, t in servers.items():
            t.start(timeout=600)
            lg.call(t, op="bucket", bucket=BUCKET)
            data[name] = _preload(lg, t, BUCKET)
            t.control("--instr=on")
        got: dict[tuple[str, str], list[float]] = {}
        for rnd in range(rounds):
            order = ["on", "off"][:: 1 if rnd % 2 == 0 else -1]
            for name in order:
                t = servers[name]
                idle = _idle_rate(t)
                for op in ("put", "get"):
                    ir, seconds = t.counted(
                        lambda t=t, op=op, d=data[name], r=rnd: _requests(lg, t, op, d, n, r)
                    )
                    got.setdefault((op, name), []).append((ir - idle * seconds) / n)
                got.setdefault(("idle/s", name), []).append(idle)
        return _table("observability", got, "off", "on", "access log + metrics", 0.05)
    finally:
        for t in servers.values():
            if t.proc is not None:
                t.stop()


def _table(
    title: str,
    got: dict[tuple[str, str], list[float]],
    base: str,
    other: str,
    what: str,
    allowed: float,
) -> list[str]:
    lines = [f"== {title}: server instructions per request (valgrind), {what} vs none"]
    lines.append(f"{'row':<10} {base + ' Ir/req':>16} {other + ' Ir/req':>16} {'ratio':>8}  goal")
    for op in ("put", "get"):
        a, b = got[op, base], got[op, other]
        ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
        verdict = "met" if ratio <= 1 + allowed else "NOT met"
        lines.append(
            f"{op + '-4k':<10} {statistics.median(a):>16,.0f} {statistics.median(b):>16,.0f}"
            f" {ratio:>7.3f}x  <= {1 + allowed:.2f}x {verdict}"
        )
    if ("idle/s", base) in got:
        lines.append(
            f"idle Ir/s: {base} {statistics.median(got['idle/s', base]):,.0f}, "
            f"{other} {statistics.median(got['idle/s', other]):,.0f} (taken off the phases)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    p.add_argument("--requests", type=int, default=300, help="requests per phase")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", default="policy,observability")
    args = p.parse_args(argv)
    lg = Loadgen(seed=7)
    try:
        for name in args.only.split(","):
            fn = {"policy": policy, "observability": observability}[name]
            print("\n".join(fn(lg, args.requests, args.rounds)), flush=True)
    finally:
        lg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
