"""Membership tells of node changes once, at the right level: a node that dies is
"down" (WARNING), one that comes back "up" (INFO), and a node an operator removed is
gone, never "up" (issue 18: after `admin remove-node` every process said it was up)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from blockstore.cluster.membership import Membership
from blockstore.cluster.replicated import ReplicatedBlocks
from meta.lmdb_kv import LmdbKV
from meta.nodes import NodeRecord, NodeRegistry
from tests.server import free_port


async def test_a_removed_node_is_never_reported_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kv = LmdbKV(tmp_path / "meta", map_size=1 << 26)
    registry = NodeRegistry(kv)
    blocks = ReplicatedBlocks(replicas=1)
    membership = Membership(registry, blocks, "secret")
    try:
        # Nothing listens there: the node is down from the start.
        await registry.register(NodeRecord("node-a", f"http://127.0.0.1:{free_port()}"))
        with caplog.at_level(logging.INFO, logger="cairn.membership"):
            await membership.refresh()
            await membership.refresh()
            await registry.remove("node-a")
            await membership.refresh()
            await membership.refresh()
        said = [(r.levelname, r.getMessage()) for r in caplog.records]
        assert said == [
            ("WARNING", "node node-a is down"),
            ("INFO", "node node-a left the registry"),
        ]
        assert blocks.down == set() and "node-a" not in blocks.stores
    finally:
        await blocks.close()
        await kv.close()


async def test_an_installed_layout_is_in_the_audit_trail(tmp_path: Path) -> None:
    """The layout manager's change is recorded in the same transaction as the layout."""
    from meta import audit

    kv = LmdbKV(tmp_path / "meta", map_size=1 << 26)
    registry = NodeRegistry(kv)
    blocks = ReplicatedBlocks(replicas=2)
    membership = Membership(registry, blocks, "secret", manage_layout=True)
    try:
        lease = await kv.grant_lease(30)
        for n in ("node-a", "node-b"):
            await registry.register(NodeRecord(n, f"http://127.0.0.1:{free_port()}"), lease)
        await membership.refresh()
        await membership.refresh()  # unchanged: no second layout, no second entry
        entries = await audit.entries(kv)
        assert [(e["action"], e["target"]) for e in entries] == [
            ("install layout", "v1: node-a, node-b")
        ]
        assert entries[0]["who"].startswith("layout manager")
    finally:
        await blocks.close()
        await kv.close()
