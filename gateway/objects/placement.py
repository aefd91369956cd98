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
