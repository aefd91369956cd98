"""Where Cairn's server time goes: py-spy on `cairn serve` during put-small, get-small, mixed.

    python -m benchmarks.profile [--seconds 10] [--out DIR]

Starts its own Cairn, drives each scenario with the load generator for a bit longer than the
sampling window, records with `py-spy record --format raw --nonblocking` (collapsed stacks; nonblocking so
sampling barely slows the server) and prints the functions with the most samples, by self
time and by inclusive time. For a flamegraph, run `py-spy record -o x.svg --pid PID` instead.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
from pathlib import Path

from benchmarks.run import BUCKET, Loadgen
from benchmarks.scenarios import FULL
from benchmarks.servers import Target

OWN = ("cairn/", "gateway/", "meta/", "blockstore/")


def summarise(raw: Path, top: int = 15) -> str:
    """Top frames of a py-spy raw (collapsed) file: self and inclusive share of samples."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0] + ")"
            for f in stack.split(";")
        ]
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    if not total:
        return "no samples"
    out = [f"{total} samples", "self:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in own.most_common(top)]
    out.append("inclusive (Cairn's own code: cairn/, gateway/, meta/, blockstore/):")
    mine = [(f, c) for f, c in incl.most_common() if f.split("(")[-1].startswith(OWN)]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in mine[:top]]
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--out", type=Path, default=Path("/tmp/cairn-profile"))
    p.add_argument("--only", help="comma-separated: put-small,get-small,mixed")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    s = FULL
    cairn = Target("cairn").start()
    lg = Loadgen(seed=1234)
    try:
        lg.call(cairn, op="bucket", bucket=BUCKET)
        nonce = "11" * 8
        pre = {"bucket": BUCKET, "prefix": "gs", "size": s.small_size, "nonce": nonce}
        lg.call(cairn, op="put", count=s.small_objects, concurrency=16, **pre)
        lg_ = {"bucket": BUCKET, "prefix": "lg", "size": s.large_size, "nonce": "55" * 8}
        lg.call(cairn, op="put", count=s.large_objects, concurrency=4, **lg_)
        mx = {"bucket": BUCKET, "prefix": "mx", "size": s.mixed_size, "nonce": "44" * 8}
        lg.call(cairn, op="put", count=s.mixed_objects, concurrency=16, **mx)
        runs = {
            "put-small": {
                "op": "put",
                "bucket": BUCKET,
                "prefix": "ps",
                "size": s.small_size,
                "nonce": "22" * 8,
            },
            "get-small": {"op": "get", **pre, "objects": s.small_objects},
            "get-large": {"op": "get", **lg_, "objects": s.large_objects, "concurrency": 4},
            "put-large": {
                "op": "put",
                "bucket": BUCKET,
                "prefix": "pl",
                "size": s.large_size,
                "nonce": "66" * 8,
                "concurrency": 4,
            },
            "mixed": {
                "op": "mixed",
                "bucket": BUCKET,
                "get_prefix": "mx",
                "get_nonce": "44" * 8,
                "objects": s.mixed_objects,
                "size": s.mixed_size,
                "get_ratio": 0.7,
                "put_prefix": "mxp",
                "put_nonce": "33" * 8,
            },
        }
        only = set(args.only.split(",")) if args.only else set(runs)
        for name, cmd in runs.items():
            if name not in only:
                continue
            raw = args.out / f"{name}.txt"
            spy = ["py-spy", "record", "--pid", str(cairn.pid), "--duration", str(args.seconds)]
            spy += ["--nonblocking", "--subprocesses", "--format", "raw", "--output", str(raw)]
            sampler = subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cmd = {"concurrency": s.small_inflight, **cmd}
            result = lg.call(cairn, **cmd, duration=args.seconds + 2)
            sampler.wait(60)
            print(f"== {name}: {result.get('ops_per_s', 0):.0f} ops/s while sampled; {raw}")
            print(summarise(raw))
    finally:
        lg.close()
        cairn.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
