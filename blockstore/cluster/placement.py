"""Placement: which storage nodes hold a block.

Weighted rendezvous hashing (highest random weight): every node scores each block id,
and a block lives on the R best-scoring nodes. Adding or removing a node moves only the
blocks whose top R changed, and capacity weights spread data in proportion.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from blake3 import blake3


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    weight: float = 1.0
    zone: str = ""


def _score(node_id: str, weight: float, key: bytes) -> float:
    h = blake3(node_id.encode() + b"\0" + key).digest(8)
    u = (struct.unpack(">Q", h)[0] + 0.5) / 2**64  # uniform in (0, 1)
    return -weight / math.log(u)


def rank(nodes: Sequence[NodeInfo], key: bytes) -> list[NodeInfo]:
    """All nodes, best first, for this key."""
    return sorted(nodes, key=lambda n: _score(n.node_id, n.weight, key), reverse=True)


def nodes_for(nodes: Sequence[NodeInfo], key: bytes, replicas: int) -> list[NodeInfo]:
    """The R nodes for key: best-ranked first, in distinct zones while zones remain."""
    ranked = rank(nodes, key)
    chosen: list[NodeInfo] = []
    zones: set[str] = set()
    for n in ranked:
        if len(chosen) == replicas:
            break
        if n.zone and n.zone in zones:
            continue
        chosen.append(n)
        zones.add(n.zone)
    for n in ranked:  # fewer zones than replicas: fill with the best remaining
        if len(chosen) == replicas:
            break
        if n not in chosen:
            chosen.append(n)
    return chosen


PARTITIONS = 1024  # 10 bits of the block id: a partition is one contiguous key range


def partition_of(block_id: bytes) -> int:
    return ((block_id[0] << 8) | block_id[1]) >> 6


def partition_range(p: int) -> tuple[bytes, bytes]:
    """The [start, end) range of block ids in partition p."""
    start = (p << 6).to_bytes(2, "big")
    end = ((p + 1) << 6).to_bytes(2, "big") if p + 1 < PARTITIONS else b"\xff" * 33
    return start, end


@dataclass(frozen=True)
class Layout:
    """Which R nodes hold each partition: version N of the cluster's map."""

    version: int
    replicas: int
    assignments: tuple[tuple[str, ...], ...]  # one tuple of node ids per partition

    def nodes_of(self, block_id: bytes) -> tuple[str, ...]:
        return self.assignments[partition_of(block_id)]

    def node_ids(self) -> set[str]:
        return {n for a in self.assignments for n in a}

    def to_dict(self) -> dict[str, object]:
        ids = sorted(self.node_ids())
        index = {n: i for i, n in enumerate(ids)}
        return {
            "version": self.version,
            "replicas": self.replicas,
            "nodes": ids,
            "assignments": [[index[n] for n in a] for a in self.assignments],
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Layout:
        ids = list(d["nodes"])  # type: ignore[call-overload]
        return cls(
            int(d["version"]),  # type: ignore[call-overload]
            int(d["replicas"]),  # type: ignore[call-overload]
            tuple(tuple(ids[i] for i in a) for a in d["assignments"]),  # type: ignore[attr-defined]
        )


def compute_layout(nodes: Sequence[NodeInfo], replicas: int, version: int) -> Layout:
    """Rendezvous over partitions: a node joining or leaving moves only the partitions
    whose top R changed."""
    r = min(replicas, len(nodes))
    assignments = tuple(
        tuple(n.node_id for n in nodes_for(nodes, p.to_bytes(2, "big"), r))
        for p in range(PARTITIONS)
    )
    return Layout(version, replicas, assignments)
