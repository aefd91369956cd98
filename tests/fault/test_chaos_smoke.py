"""The fault campaign's smoke (issue 19): three short trials with fixed seeds, each a real
`cairn cluster up` on etcd with the nemesis on (kills, pauses longer than a lease, a cut
link, a full disk) and the workload on every gateway, judged by tests/chaos/checker.py.
About a minute per trial; the full campaign is `python -m tests.chaos` (docs/fault-campaign.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.trial import run_trial

SEEDS = (101, 202, 303)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_short_trial_keeps_every_acknowledged_write(seed: int, tmp_path: Path) -> None:
    result = run_trial(seed, seconds=8.0, root=tmp_path)
    said = f"{result.phases} {result.nemesis_log}"
    assert result.errors == [], f"{result.errors} {said}"
    # A loaded machine runs few operations, but every trial runs some, and writes stick.
    assert result.ops > 20 and result.acked_writes > 5, f"{result.ops} {result.acked_writes} {said}"
    assert sum(result.faults.values()) >= 1, said
    assert result.anomalies == [], f"{result.anomalies} {said}"
