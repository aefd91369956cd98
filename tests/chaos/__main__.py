"""python -m tests.chaos --trials N --seed S [--minutes M] [--seconds T] [--report FILE]

Trial i runs seed S+i: its cluster shape, workload and faults all follow from it."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from tests.chaos.repair_time import repair_time
from tests.chaos.report import Campaign
from tests.chaos.trial import FAULTS, run_trial


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--seed", type=int, default=1, help="trial i runs seed S+i")
    p.add_argument("--minutes", type=float, help="stop starting trials after this long")
    p.add_argument("--seconds", type=float, default=8.0, help="faults and traffic per trial")
    p.add_argument("--report", help="write the campaign report (JSON) here")
    p.add_argument("--root", help="directory for the trials' clusters (default: $TMPDIR)")
    p.add_argument(
        "--faults", default=",".join(FAULTS), help="comma-separated fault kinds (default: all)"
    )
    p.add_argument(
        "--keep-logs",
        help="copy the process logs of anomalous or failed trials to DIR/seed-N",
    )
    p.add_argument(
        "--repair-gib",
        type=float,
        help="also time re-replication after a node holding this much is lost",
    )
    args = p.parse_args(argv)
    # SIGTERM exits like Ctrl-C: finally blocks and atexit delete the trial's namespaces.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    campaign = Campaign()
    stop_at = time.monotonic() + args.minutes * 60 if args.minutes else float("inf")
    for i in range(args.trials):
        if time.monotonic() > stop_at:
            break
        root = Path(args.root) if args.root else None
        keep = Path(args.keep_logs) if args.keep_logs else None
        result = run_trial(args.seed + i, args.seconds, root, tuple(args.faults.split(",")), keep)
        campaign.add(result)
        print(campaign.line(result), flush=True)
        if args.report:
            Path(args.report).write_text(json.dumps(campaign.to_dict(), indent=2))
    if args.repair_gib:
        campaign.repair = repair_time(args.repair_gib)
        if args.report:
            Path(args.report).write_text(json.dumps(campaign.to_dict(), indent=2))
    print(campaign.summary())
    return 1 if campaign.anomaly_count() else 0


if __name__ == "__main__":
    sys.exit(main())
