"""Benchmark orchestrator: Cairn against moto and a floor app, interleaved, medians of rounds.

    python -m benchmarks.run [--quick] [--scenarios put-small,get-small,...]
                             [--targets cairn,moto,floor] [--rounds N] [--json out.json]

The machine is shared and noisy (figures drift 2x between runs), so every scenario runs
`rounds` times with the targets interleaved (A, B, C, A, B, C ...) and the report gives
medians, and medians of the per-round ratios: ratios from the same run are what count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from benchmarks import procstat, report
from benchmarks.content import Content
from benchmarks.policy_bench import POLICY_BUCKET, install_policy
from benchmarks.scenarios import (
    FULL,
    OPT_IN_SCENARIOS,
    QUICK,
    ROWS,
    SCENARIOS,
    UNSUPPORTED,
    Settings,
)
from benchmarks.servers import CLUSTERS, Target
from benchmarks.sse_bench import SSE_BUCKET, encrypt_by_default
from benchmarks.versioning_bench import LOCKED_BUCKET, VERSIONED_BUCKET, install_versioning

BUCKET, LIST_BUCKET = "bench", "bench-list"
Results = dict[str, dict[str, list[dict[str, Any]]]]  # row -> target -> per-round figures


class Loadgen:
    """The load generator child process (benchmarks.loadgen), one JSON command at a time."""

    def __init__(self, seed: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loadgen", "--seed", str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("load generator exited")
        return dict(json.loads(line))

    def call(self, target: Target, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        cmd |= {
            "port": target.port,
            "access_key": target.access_key,
            "secret_key": target.secret_key,
            "pids": [target.pid],
        }
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _nonce() -> str:
    return os.urandom(8).hex()


def _figures(row: str, r: dict[str, Any]) -> dict[str, Any]:
    """The per-round figures kept for the report, from one load generator result."""
    main = r["mb_per_s"] if ROWS[row].unit == "MB/s" else r["ops_per_s"]
    per = r["ops"] / 1000 if ROWS[row].per == "1k ops" else r["bytes"] / 1e9
    return {
        "value": main,
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "cpu_per": r["server_cpu_s"] / per if per else float("nan"),
        "rss_mib": r["server_rss_mib"],
        "rss_max_proc_mib": r["server_rss_max_proc_mib"],
        "procs": r["server_procs"],
        "rss_anon_end_mib": r["server_rss_anon_end_mib"],
        "rss_file_end_mib": r["server_rss_file_end_mib"],
        "client_us": r["client_cpu_s"] / max(r["ops"], 1) * 1e6,
        "ops": r["ops"],
        "seconds": r["seconds"],
        "errors": r["errors"],
        "error_samples": r["error_samples"],
        "verified": r["verified"],
        "verify_failures": r["verify_failures"],
    }


class Bench:
    """Per scenario: fresh servers, preloading on every target, then interleaved rounds.

    Fresh servers (new process, empty temp dir) per scenario, so each scenario's peak RSS and
    CPU are its own and not what an earlier scenario left behind.
    """

    def __init__(self, names: list[str], s: Settings, seed: int, workdir: Path) -> None:
        self.names = names
        self.targets: list[Target] = []
        self.s = s
        self.content = Content(seed)
        self.lg = Loadgen(seed)
        self.workdir = workdir
        self.results: Results = {}
        self.datasets: dict[tuple[str, str], dict[str, Any]] = {}

    def _check(self, what: str, r: dict[str, Any]) -> dict[str, Any]:
        if "exception" in r or r.get("status", 200) != 200:
            raise RuntimeError(f"{what}: {r}")
        if r.get("errors"):
            print(f"  ! {what}: {r['errors']} errors, e.g. {r['error_samples'][:2]}", flush=True)
        return r

    def stop_targets(self) -> None:
        for t in self.targets:
            t.stop()
        self.targets = []

    def setup(self) -> None:
        for t in self.targets:
            for bucket in (BUCKET, LIST_BUCKET):
                self._check(
                    f"{t.name} create {bucket}", self.lg.call(t, op="bucket", bucket=bucket)
                )

    def _preload(
        self, t: Target, prefix: str, size: int, count: int, bucket: str = BUCKET
    ) -> dict[str, Any]:
        ds = {"bucket": bucket, "prefix": prefix, "nonce": _nonce(), "size": size, "objects": count}
        cmd = {k: v for k, v in ds.items() if k != "objects"}
        r = self.lg.call(t, op="put", count=count, concurrency=16, verify_every=64, **cmd)
        self._check(f"{t.name} preload {prefix}", r)
        if r["ops"] != count:
            raise RuntimeError(f"{t.name} preload {prefix}: {r['ops']}/{count} stored: {r}")
        return ds

    def prepare(self, scenario: str, t: Target) -> None:
        s = self.s
        if scenario == "get-small":
            self.datasets[scenario, t.name] = self._preload(t, "gs", s.small_size, s.small_objects)
        elif scenario == "get-large":
            self.datasets[scenario, t.name] = self._preload(t, "gl", s.large_size, s.large_objects)
        elif scenario == "mixed":
            self.datasets[scenario, t.name] = self._preload(t, "mx", s.mixed_size, s.mixed_objects)
        elif scenario == "list":
            self._preload(t, "k", 64, s.list_keys, bucket=LIST_BUCKET)
        elif scenario == "sse":
            self._check(
                f"{t.name} create {SSE_BUCKET}", self.lg.call(t, op="bucket", bucket=SSE_BUCKET)
            )
            encrypt_by_default(t, SSE_BUCKET)
            for bucket in (BUCKET, SSE_BUCKET):
                ds = self._preload(t, "sg", s.large_size, s.large_objects, bucket=bucket)
                self.datasets[f"sse-{bucket}", t.name] = ds
        elif scenario == "policy":
            self._check(
                f"{t.name} create {POLICY_BUCKET}",
                self.lg.call(t, op="bucket", bucket=POLICY_BUCKET),
            )
            install_policy(t, POLICY_BUCKET)
            for bucket in (BUCKET, POLICY_BUCKET):
                ds = self._preload(t, "pg", s.small_size, s.small_objects, bucket=bucket)
                self.datasets[f"{scenario}-{bucket}", t.name] = ds
        elif scenario == "versioning":
            install_versioning(t)

    def round(self, scenario: str, t: Target, rnd: int) -> dict[str, dict[str, Any]]:
        """One measured round; returns figures per row (cp gives two rows)."""
        s = self.s
        if scenario == "cp":
            return self._cp(t, rnd)
        if scenario == "policy":
            return self._policy(t, rnd)
        if scenario == "versioning":
            return self._versioning(t, rnd)
        if scenario == "sse":
            return self._sse(t, rnd)
        common: dict[str, Any] = {"bucket": BUCKET, "rng_seed": rnd}
        if scenario == "put-small":
            cmd = {"op": "put", "prefix": f"ps{rnd}", "size": s.small_size, "nonce": _nonce()}
            cmd |= {"concurrency": s.small_inflight, "duration": s.duration}
        elif scenario == "put-large":
            cmd = {"op": "put", "prefix": f"pl{rnd}", "size": s.large_size, "nonce": _nonce()}
            cmd |= {"concurrency": s.large_inflight, "duration": s.large_duration}
            cmd |= {"verify_objects": [0]}
        elif scenario == "get-small":
            cmd = {"op": "get", **self.datasets[scenario, t.name], "verify_every": 8}
            cmd |= {"concurrency": s.small_inflight, "duration": s.duration}
        elif scenario == "get-large":
            cmd = {"op": "get", **self.datasets[scenario, t.name], "verify_every": 4}
            cmd |= {"concurrency": s.large_inflight, "duration": s.large_duration}
        elif scenario == "list":
            cmd = {"op": "list", "bucket": LIST_BUCKET, "expected_keys": s.list_keys}
            cmd |= {"page_size": s.list_page, "concurrency": s.list_inflight}
            cmd |= {"duration": s.duration}
            common = {}
        elif scenario == "mixed":
            ds = self.datasets[scenario, t.name]
            cmd = {"op": "mixed", "get_prefix": ds["prefix"], "get_nonce": ds["nonce"]}
            cmd |= {"objects": ds["objects"], "size": s.mixed_size, "get_ratio": 0.7}
            cmd |= {"put_prefix": f"mxp{rnd}", "put_nonce": _nonce(), "verify_every": 8}
            cmd |= {"concurrency": s.mixed_inflight, "duration": s.duration}
        else:
            raise ValueError(scenario)
        r = self._check(f"{t.name} {scenario} round {rnd}", self.lg.call(t, **(common | cmd)))
        return {scenario: _figures(scenario, r)}

    def _policy(self, t: Target, rnd: int) -> dict[str, dict[str, Any]]:
        """Small PUT then GET, each on the bare bucket and on the 20-statement one, in turn;
        which bucket goes first alternates by round (A B, then B A), so a machine that
        slows down or speeds up during a round does not favour one side every time."""
        s, out = self.s, {}
        for op in ("put", "get"):
            pair = [(BUCKET, f"{op}-bare"), (POLICY_BUCKET, f"{op}-pol20")]
            for bucket, row in pair if rnd % 2 == 0 else reversed(pair):
                cmd: dict[str, Any] = {"bucket": bucket, "rng_seed": rnd}
                cmd |= {"concurrency": s.small_inflight, "duration": s.duration}
                if op == "put":
                    cmd |= {"op": "put", "prefix": f"pp{rnd}", "size": s.small_size}
                    cmd |= {"nonce": _nonce()}
                else:
                    cmd |= {"op": "get", **self.datasets[f"policy-{bucket}", t.name]}
                    cmd |= {"verify_every": 8}
                r = self._check(f"{t.name} {row} round {rnd}", self.lg.call(t, **cmd))
                out[row] = _figures(row, r)
        return out

    def _versioning(self, t: Target, rnd: int) -> dict[str, dict[str, Any]]:
        """Small PUTs on the unversioned, the versioned and the locked bucket, in turn."""
        s, out = self.s, {}
        for bucket, row in (
            (BUCKET, "put-unversioned"),
            (VERSIONED_BUCKET, "put-versioned"),
            (LOCKED_BUCKET, "put-locked"),
        ):
            cmd: dict[str, Any] = {"op": "put", "bucket": bucket, "rng_seed": rnd}
            cmd |= {"prefix": f"pv{rnd}", "size": s.small_size, "nonce": _nonce()}
            cmd |= {"concurrency": s.small_inflight, "duration": s.duration}
            r = self._check(f"{t.name} {row} round {rnd}", self.lg.call(t, **cmd))
            out[row] = _figures(row, r)
        return out

    def _sse(self, t: Target, rnd: int) -> dict[str, dict[str, Any]]:
        """Large PUT then GET, each on the plaintext bucket and on the SSE-S3 one, in turn."""
        s, out = self.s, {}
        for op in ("put", "get"):
            for bucket, row in ((BUCKET, f"{op}-large-plain"), (SSE_BUCKET, f"{op}-large-sse")):
                cmd: dict[str, Any] = {"bucket": bucket, "rng_seed": rnd}
                cmd |= {"concurrency": s.large_inflight, "duration": s.large_duration}
                if op == "put":
                    cmd |= {"op": "put", "prefix": f"sp{rnd}", "size": s.large_size}
                    cmd |= {"nonce": _nonce(), "verify_objects": [0]}
                else:
                    cmd |= {"op": "get", **self.datasets[f"sse-{bucket}", t.name]}
                    cmd |= {"verify_every": 4}
                r = self._check(f"{t.name} {row} round {rnd}", self.lg.call(t, **cmd))
                out[row] = _figures(row, r)
        return out

    def _cp(self, t: Target, rnd: int) -> dict[str, dict[str, Any]]:
        """`aws s3 cp` (pip awscli, default settings) of a fresh unique file up, then down."""
        src, dst = self.workdir / "cp-src.bin", self.workdir / "cp-dst.bin"
        nonce = bytes.fromhex(_nonce())  # new content every round: no deduplication
        with open(src, "wb") as f:
            for chunk in self.content.chunks(nonce, rnd, self.s.cp_size):
                f.write(chunk)
        cfg = self.workdir / "aws-none"
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": t.access_key,
            "AWS_SECRET_ACCESS_KEY": t.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(cfg),  # default settings, whatever ~/.aws holds
            "AWS_SHARED_CREDENTIALS_FILE": str(cfg),
        }
        aws = ["aws", "--endpoint-url", t.endpoint, "s3", "cp", "--only-show-errors"]
        key = f"s3://{BUCKET}/cp/{rnd}-{nonce.hex()}"
        out: dict[str, dict[str, Any]] = {}
        for row, args in (("cp-up", [str(src), key]), ("cp-down", [key, str(dst)])):
            cpu0 = procstat.cpu_seconds(t.pid)
            procstat.reset_peak_rss(t.pid)
            t0 = time.perf_counter()
            try:
                p = subprocess.run(
                    aws + args, env=env, capture_output=True, timeout=self.s.cp_timeout
                )
                err = p.stderr.decode(errors="replace")[-300:] if p.returncode else ""
            except subprocess.TimeoutExpired:
                err = f"timed out after {self.s.cp_timeout}s"
            seconds = time.perf_counter() - t0
            cpu = procstat.cpu_seconds(t.pid) - cpu0
            rss = procstat.peak_rss_mib(t.pid)
            if not err and row == "cp-down" and not _same_file(src, dst):
                err = "downloaded file differs from the uploaded one"
            if err:
                print(f"  ! {t.name} {row} round {rnd}: {err}", flush=True)
            out[row] = {
                "value": float("nan") if err else seconds,
                "p50_ms": float("nan"),
                "p99_ms": float("nan"),
                "cpu_per": cpu / (self.s.cp_size / 1e9),
                "rss_mib": rss[0],
                "rss_max_proc_mib": rss[1],
                "procs": rss[2],
                "rss_anon_end_mib": procstat.rss_split_mib(t.pid)[0],
                "rss_file_end_mib": procstat.rss_split_mib(t.pid)[1],
                "client_us": float("nan"),
                "ops": 1,
                "seconds": seconds,
                "errors": 1 if err else 0,
                "error_samples": [err] if err else [],
                "verified": 1 if row == "cp-down" else 0,
                "verify_failures": 1 if "differs" in err else 0,
            }
        dst.unlink(missing_ok=True)
        return out

    def run(self, scenarios: list[str]) -> Results:
        for scenario in scenarios:
            names = [n for n in self.names if scenario not in UNSUPPORTED.get(n, set())]
            if not names:
                continue
            t0 = time.monotonic()
            try:
                for n in names:  # appended before start() so a failed start is stopped too
                    self.targets.append(Target(n))
                    self.targets[-1].start()
                self.setup()
                for t in self.targets:
                    self.prepare(scenario, t)
                rounds = self.s.cp_rounds if scenario == "cp" else self.s.rounds
                for rnd in range(rounds):
                    for t in self.targets:
                        for row, fig in self.round(scenario, t, rnd).items():
                            self.results.setdefault(row, {}).setdefault(t.name, []).append(fig)
                            line = report.one_line(row, fig)
                            print(f"  {row:9} r{rnd} {t.name:5} {line}", flush=True)
            finally:
                self.stop_targets()
            print(f"{scenario}: done in {time.monotonic() - t0:.0f}s", flush=True)
        return self.results


def _same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(8 << 20), fb.read(8 << 20)
            if x != y:
                return False
            if not x:
                return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke test: ~2-3 minutes")
    p.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated; opt-in: {','.join(OPT_IN_SCENARIOS)}",
    )
    p.add_argument("--targets", default="cairn,moto,floor", help="comma-separated")
    p.add_argument("--rounds", type=int, help="rounds per scenario (default 3, quick 2)")
    p.add_argument("--json", type=Path, help="write all figures here")
    args = p.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.rounds:
        settings = replace(
            settings, rounds=args.rounds, cp_rounds=min(args.rounds, settings.cp_rounds)
        )
    scenarios = [s for s in args.scenarios.split(",") if s]
    names = [t for t in args.targets.split(",") if t]
    unknown = [s for s in scenarios if s not in SCENARIOS + OPT_IN_SCENARIOS] + [
        t for t in names if t not in ("cairn", "moto", "floor", *CLUSTERS)
    ]
    if unknown:
        p.error(f"unknown scenario/target: {unknown}")
    seed = int.from_bytes(os.urandom(8), "big")
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="cairn-bench-run-"))
    bench = Bench(names, settings, seed, workdir)
    try:
        results = bench.run(scenarios)
    finally:
        bench.stop_targets()
        bench.lg.close()
        shutil.rmtree(workdir, ignore_errors=True)
    text, summary = report.render(results, names, settings, time.time() - started)
    print(text)
    if args.json:
        doc = {"settings": asdict(settings), "targets": names, "results": results, **summary}
        args.json.write_text(json.dumps(doc, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
