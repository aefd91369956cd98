"""Membership's layout decisions over a real LMDB registry.

A node leaves the layout only when both its lease has expired and its last heartbeat is
older than --node-grace. CI once saw a 4-node cluster with a 2 s grace (heartbeats every
2 s) install a 3-node layout for one second because one heartbeat came late, so that every
object written in that second skipped a healthy node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blockstore.cluster.membership import Membership
from blockstore.cluster.replicated import ReplicatedBlocks
from meta.api import Txn
from meta.lmdb_kv import LmdbKV
from meta.nodes import NODE, NodeRecord, NodeRegistry
from meta.records import now_ms


@pytest.fixture
async def kv(tmp_path: Path) -> AsyncIterator[LmdbKV]:
    k = LmdbKV(str(tmp_path / "meta"))
    yield k
    await k.close()


async def _register(kv: LmdbKV, node_id: str, *, age_s: float, leased: bool) -> None:
    """A node record whose last heartbeat was `age_s` ago, alive (under a lease) or not.
    Nothing listens on its URL: health probes fail, which marks it down but must not
    change the layout."""
    registry = NodeRegistry(kv)
    lease = await kv.grant_lease(60) if leased else None
    await registry.register(NodeRecord(node_id, "http://127.0.0.1:9"), lease)
    old = NodeRecord(node_id, "http://127.0.0.1:9", heartbeat_ms=now_ms() - int(age_s * 1000))
    await kv.commit(Txn().put(NODE + node_id.encode(), old.to_bytes()))


async def _layout_nodes(kv: LmdbKV, node_grace: float) -> set[str]:
    blocks = ReplicatedBlocks(replicas=2)
    m = Membership(NodeRegistry(kv), blocks, "secret", manage_layout=True, node_grace=node_grace)
    try:
        await m.refresh()
        assert blocks.layout is not None
        return set(blocks.layout.node_ids())
    finally:
        for store in blocks.stores.values():
            await store.close()


async def test_live_node_with_a_late_heartbeat_stays_in_the_layout(kv: LmdbKV) -> None:
    await _register(kv, "fresh", age_s=0, leased=True)
    await _register(kv, "late", age_s=20, leased=True)  # lease alive, heartbeat > grace
    await _register(kv, "other", age_s=0, leased=True)
    assert await _layout_nodes(kv, node_grace=10) == {"fresh", "late", "other"}


async def test_node_leaves_only_when_lease_and_grace_are_both_gone(kv: LmdbKV) -> None:
    await _register(kv, "a", age_s=0, leased=True)
    await _register(kv, "b", age_s=0, leased=True)
    # Ages far from the grace either way: a stall before the refresh reads the clock must
    # not move "restarting" past it.
    await _register(kv, "restarting", age_s=10, leased=False)  # lease gone, within grace
    await _register(kv, "gone", age_s=60, leased=False)  # lease gone, grace over
    assert await _layout_nodes(kv, node_grace=30) == {"a", "b", "restarting"}


async def test_a_reader_never_installs_a_layout_but_follows_the_managers(kv: LmdbKV) -> None:
    """A gateway's Membership (the default) only reads: with no layout installed it has
    none, and once the manager (the meta leader) installs one, it uses that one."""
    await _register(kv, "a", age_s=0, leased=True)
    await _register(kv, "b", age_s=0, leased=True)
    blocks = ReplicatedBlocks(replicas=2)
    reader = Membership(NodeRegistry(kv), blocks, "secret")
    try:
        await reader.refresh()
        assert blocks.layout is None
        assert (await NodeRegistry(kv).layout())[0] is None
        assert set(blocks.stores) == {"a", "b"}  # clients opened all the same
        assert blocks.down == {"a", "b"}  # nothing answers their probes
        assert await _layout_nodes(kv, node_grace=30) == {"a", "b"}  # the manager installs
        await reader.refresh()
        assert blocks.layout is not None and set(blocks.layout.node_ids()) == {"a", "b"}
    finally:
        for store in blocks.stores.values():
            await store.close()
