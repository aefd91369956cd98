"""The fault campaign's smoke (issue 19): three short trials with fixed seeds, each a real
`cairn cluster up` on etcd with the nemesis on (kills, pauses longer than a lease, real
network partitions of a node's namespace, a full disk) and the workload on every gateway,
judged by tests/chaos/checker.py. The last trial draws only network faults, so that every
run cuts a node's link in the kernel (tests/chaos/netns.py; CI runs as root). About a
minute per trial; the full campaign is `python -m tests.chaos` (docs/fault-campaign.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.trial import FAULTS, NETWORK_FAULTS, run_trial

RUNS = ((101, FAULTS), (202, FAULTS), (303, (*NETWORK_FAULTS, "kill-node")))


@pytest.mark.parametrize(("seed", "faults"), RUNS, ids=[str(seed) for seed, _ in RUNS])
def test_a_short_trial_keeps_every_acknowledged_write(
    seed: int, faults: tuple[str, ...], tmp_path: Path
) -> None:
    result = run_trial(seed, seconds=8.0, root=tmp_path, faults=faults)
    said = f"{result.phases} {result.nemesis_log} {result.notes}"
    assert result.errors == [], f"{result.errors} {said}"
    # A loaded machine runs few operations, but every trial runs some, and writes stick.
    assert result.ops > 20 and result.acked_writes > 5, f"{result.ops} {result.acked_writes} {said}"
    assert sum(result.faults.values()) >= 1, said
    if faults != FAULTS:  # the network trial: a partition happened, in the kernel
        assert set(result.faults) & set(NETWORK_FAULTS), said
    assert result.anomalies == [], f"{result.anomalies} {said}"
