"""Placement by weighted rendezvous hashing (blockstore.cluster.placement.nodes_for)."""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from blockstore.address import block_id
from blockstore.cluster import placement
from blockstore.cluster.placement import NodeInfo, nodes_for

N_KEYS = 100_000


def make_keys(n: int, seed: int = 0) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.getrandbits(256).to_bytes(32, "big") for _ in range(n)]


KEYS = make_keys(N_KEYS)


def ids(nodes: list[NodeInfo]) -> tuple[str, ...]:
    return tuple(n.node_id for n in nodes)


@pytest.mark.parametrize("replicas", [1, 2, 3, 5])
def test_replicas_are_distinct(replicas: int) -> None:
    nodes = [NodeInfo(f"n{i}", weight=1.0 + i % 3) for i in range(7)]
    for key in KEYS[:5000]:
        chosen = ids(nodes_for(nodes, key, replicas))
        assert len(chosen) == replicas
        assert len(set(chosen)) == replicas


def test_more_replicas_than_nodes_gives_every_node_once() -> None:
    nodes = [NodeInfo(f"n{i}") for i in range(3)]
    for key in KEYS[:200]:
        chosen = ids(nodes_for(nodes, key, 5))
        assert sorted(chosen) == ["n0", "n1", "n2"]


def test_deterministic_and_independent_of_node_order() -> None:
    nodes = [NodeInfo(f"n{i}", weight=1 + i) for i in range(6)]
    shuffled = list(nodes)
    random.Random(3).shuffle(shuffled)
    for key in KEYS[:2000]:
        assert ids(nodes_for(nodes, key, 3)) == ids(nodes_for(shuffled, key, 3))


def test_prefix_of_longer_replica_list() -> None:
    """The first R of R+1 are the R: raising R adds a copy, it does not move others."""
    nodes = [NodeInfo(f"n{i}") for i in range(8)]
    for key in KEYS[:2000]:
        assert ids(nodes_for(nodes, key, 4))[:3] == ids(nodes_for(nodes, key, 3))


def test_real_block_ids_spread() -> None:
    nodes = [NodeInfo(f"n{i}") for i in range(4)]
    counts = Counter(
        nodes_for(nodes, block_id(os.urandom(64)), 1)[0].node_id for _ in range(20_000)
    )
    assert set(counts) == {"n0", "n1", "n2", "n3"}
    for c in counts.values():
        assert abs(c / 20_000 - 0.25) < 0.25 * 0.1


@pytest.mark.parametrize(
    "weights",
    [
        [1.0, 1.0, 1.0, 1.0],
        [1.0, 2.0, 3.0, 4.0],
        [10.0, 1.0, 1.0],
        [4e12, 8e12, 2e12, 16e12, 1e12],  # capacities in bytes
    ],
)
def test_distribution_follows_capacity_weights(weights: list[float]) -> None:
    nodes = [NodeInfo(f"node-{i}", weight=w) for i, w in enumerate(weights)]
    counts = Counter(nodes_for(nodes, key, 1)[0].node_id for key in KEYS)
    total = sum(weights)
    for i, w in enumerate(weights):
        expected = N_KEYS * w / total
        got = counts[f"node-{i}"]
        assert abs(got - expected) <= 0.10 * expected, (weights, i, got, expected)


def test_replica_load_is_even_with_equal_weights() -> None:
    nodes = [NodeInfo(f"n{i}") for i in range(6)]
    counts: Counter[str] = Counter()
    for key in KEYS:
        counts.update(ids(nodes_for(nodes, key, 3)))
    expected = N_KEYS * 3 / 6
    for n in nodes:
        assert abs(counts[n.node_id] - expected) <= 0.10 * expected


@pytest.mark.parametrize("replicas", [1, 3])
def test_adding_a_node_moves_only_to_the_new_node(replicas: int) -> None:
    before_nodes = [NodeInfo(f"n{i}", weight=1.0 + i % 2) for i in range(5)]
    new = NodeInfo("n-new", weight=1.5)
    after_nodes = before_nodes + [new]
    moved = 0
    sample = KEYS[:50_000]
    for key in sample:
        before = ids(nodes_for(before_nodes, key, replicas))
        after = ids(nodes_for(after_nodes, key, replicas))
        if set(before) == set(after):
            continue
        moved += 1
        # the only change: the new node took one place, the others kept theirs
        assert new.node_id in after, (before, after)
        assert set(after) - set(before) == {new.node_id}
        assert len(set(before) - set(after)) == 1
    # and about its fair share moved (no wholesale reshuffle)
    total = sum(n.weight for n in after_nodes)
    if replicas == 1:
        expected = len(sample) * new.weight / total
        assert abs(moved - expected) <= 0.10 * expected
    else:
        assert moved <= len(sample) * min(1.0, replicas * new.weight / total) * 1.1


@pytest.mark.parametrize("replicas", [1, 3])
def test_removing_a_node_moves_only_its_keys(replicas: int) -> None:
    nodes = [NodeInfo(f"n{i}", weight=1.0 + i % 3) for i in range(6)]
    gone = nodes[2]
    remaining = [n for n in nodes if n != gone]
    for key in KEYS[:50_000]:
        before = ids(nodes_for(nodes, key, replicas))
        after = ids(nodes_for(remaining, key, replicas))
        if gone.node_id not in before:
            assert set(after) == set(before)
        else:
            assert set(before) - set(after) == {gone.node_id}
            assert len(set(after) - set(before)) == 1


def test_zones_are_distinct_when_enough_zones() -> None:
    nodes = [
        NodeInfo(f"{z}-{i}", weight=1.0 + i, zone=z)
        for z in ("za", "zb", "zc", "zd")
        for i in range(3)
    ]
    zone_of = {n.node_id: n.zone for n in nodes}
    for replicas in (2, 3, 4):
        for key in KEYS[:10_000]:
            chosen = nodes_for(nodes, key, replicas)
            assert len(chosen) == replicas
            assert len({zone_of[n.node_id] for n in chosen}) == replicas


def test_zones_uneven_node_counts() -> None:
    """A zone with many nodes still gets only one replica while other zones remain."""
    nodes = [NodeInfo(f"big-{i}", zone="big") for i in range(10)]
    nodes += [NodeInfo("small-a", zone="a"), NodeInfo("small-b", zone="b")]
    for key in KEYS[:20_000]:
        chosen = nodes_for(nodes, key, 3)
        assert sorted(n.zone for n in chosen) == ["a", "b", "big"]


def test_fewer_zones_than_replicas_uses_every_zone_then_fills() -> None:
    nodes = [NodeInfo(f"{z}-{i}", zone=z) for z in ("za", "zb") for i in range(3)]
    for key in KEYS[:20_000]:
        chosen = nodes_for(nodes, key, 3)
        assert len({n.node_id for n in chosen}) == 3
        assert {n.zone for n in chosen} == {"za", "zb"}


def test_zoned_placement_keeps_the_best_node_first() -> None:
    nodes = [NodeInfo(f"{z}-{i}", zone=z) for z in ("za", "zb", "zc") for i in range(4)]
    for key in KEYS[:5000]:
        assert nodes_for(nodes, key, 3)[0] == nodes_for(nodes, key, 1)[0]


def test_weight_zero_node_gets_nothing_while_others_have_room() -> None:
    nodes = [NodeInfo("a"), NodeInfo("b"), NodeInfo("drained", weight=0.0)]
    for key in KEYS[:5000]:
        assert "drained" not in ids(nodes_for(nodes, key, 2))


# ------------------------------------------------------- partition layout (if present)


@pytest.mark.skipif(not hasattr(placement, "compute_layout"), reason="no partition layout yet")
def test_layout_adding_a_node_moves_only_partitions_to_it() -> None:
    before_nodes = [NodeInfo(f"n{i}") for i in range(5)]
    after_nodes = before_nodes + [NodeInfo("n5")]
    a = placement.compute_layout(before_nodes, 3, 1)
    b = placement.compute_layout(after_nodes, 3, 2)
    for pa, pb in zip(a.assignments, b.assignments, strict=True):
        assert len(set(pb)) == 3
        if set(pa) != set(pb):
            assert set(pb) - set(pa) == {"n5"}
