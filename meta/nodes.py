"""The node registry and the layout, as metadata records.

    N<node id>   a storage node: URL, zone, capacity, use, last heartbeat
    A<node id>   the node is alive: put under the node's lease (etcd's, or LMDB's
                 equivalent), so it disappears when the node stops renewing it
    L            the current layout and the one before it (reads consult both while
                 partitions move)

Nodes write both records when they start and on every heartbeat, renewing their lease;
gateways read the registry to know whom to talk to and the live set to know who is up
(a node that died is out of it when its lease expires). N stays after a node dies: the
layout keeps a node until it has been gone for the grace period, so a restart or a short
outage does not move data. The layout is written with a compare on the previous value, so
two writers can never both install "version N+1".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from meta import audit
from meta.api import KV, Lease, Txn
from meta.keys import ALIVE, LAYOUT, NODE, prefix_end
from meta.records import now_ms


@dataclass
class NodeRecord:
    node_id: str
    url: str
    zone: str = ""
    capacity: int = 0
    used: int = 0
    heartbeat_ms: int = 0

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> NodeRecord:
        return cls(**json.loads(raw))


class NodeRegistry:
    def __init__(self, kv: KV) -> None:
        self.kv = kv

    async def register(self, node: NodeRecord, lease: Lease | None = None) -> None:
        """Write the node's record and, under ``lease``, its place in the live set."""
        node.heartbeat_ms = now_ms()
        txn = Txn().put(NODE + node.node_id.encode(), node.to_bytes())
        if lease is not None:
            txn.put(ALIVE + node.node_id.encode(), b"", lease=lease)
        await self.kv.commit(txn)

    async def remove(self, node_id: str) -> None:
        await self.kv.commit(Txn().delete(NODE + node_id.encode()))

    async def live(self) -> set[str]:
        """Ids of the nodes whose lease is alive."""
        rows = await self.kv.scan(ALIVE, prefix_end(ALIVE), limit=100_000)
        return {k[len(ALIVE) :].decode() for k, _ in rows}

    async def nodes(self) -> list[NodeRecord]:
        rows = await self.kv.scan(NODE, prefix_end(NODE), limit=100_000)
        return [NodeRecord.from_bytes(v) for _, v in rows]

    async def layout(
        self,
    ) -> tuple[dict[str, object] | None, dict[str, object] | None, bytes | None]:
        """(current, previous, raw) layout dicts as stored; raw is for a compare-and-swap."""
        raw = await self.kv.get(LAYOUT)
        if raw is None:
            return None, None, None
        d = json.loads(raw)
        return d["current"], d.get("previous"), raw

    async def install_layout(
        self, current: dict[str, object], previous: dict[str, object] | None, expected: bytes | None
    ) -> None:
        """Install a new layout if nobody changed it since `expected` was read (TxnConflict)."""
        raw = json.dumps({"current": current, "previous": previous}).encode()
        txn = Txn().expect(LAYOUT, expected).put(LAYOUT, raw)
        nodes = current.get("nodes") or []
        target = f"v{current.get('version')}: {', '.join(map(str, nodes))}"  # type: ignore[call-overload]
        audit.add(txn, "layout manager (elected meta service)", "install layout", target)
        await self.kv.commit(txn)
