"""`cairn admin status`: the cluster's health on one screen.

Nodes (health, lease, zone, used and capacity), the layout, which meta service leads,
whether every referenced block is whole (a full `fsck` pass, skipped with `--no-blocks` on
a store too large to walk for a glance), the GC backlog and the work in flight (multipart
uploads, journal entries a crash or a large release left). Everything is read from the
metadata and the nodes at the moment it runs; nothing is cached.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from cairn import fsck
from cairn.admin_nodes import node_rows, print_nodes, serve_node_rows
from cairn.block_view import open_blocks
from cairn.exits import Exit
from cairn.tables import print_table
from meta import keys
from meta.api import KV
from meta.nodes import NodeRegistry
from meta.records import now_ms

COUNT_CAP = 1_000_000  # a backlog is counted up to this many entries ("at least" past it)


async def count_prefix(kv: KV, start: bytes, end: bytes) -> int:
    """Keys in [start, end), paged, up to COUNT_CAP."""
    n = 0
    while n < COUNT_CAP:
        rows = await kv.scan(start, end, limit=1000)
        if not rows:
            break
        n += len(rows)
        start = rows[-1][0] + b"\0"
    return n


async def _leader(kv: KV, serve: bool) -> str | None:
    if serve:
        return "cairn serve (worker 0 runs the housekeeper)"
    raw = await kv.get(keys.ELECTION + b"housekeeping")
    return json.loads(raw)["holder"] if raw is not None else None


async def _layout(kv: KV) -> dict[str, Any] | None:
    current, _, _ = await NodeRegistry(kv).layout()
    if current is None:
        return None
    return {
        "version": current["version"],
        "replicas": current["replicas"],
        "partitions": len(current["assignments"]),
    }


async def _backlog(kv: KV) -> dict[str, int]:
    gc_end = keys.prefix_end(keys.GCQUEUE)
    return {
        "gc_queued": await count_prefix(kv, keys.GCQUEUE, gc_end),
        "gc_due": await count_prefix(kv, keys.GCQUEUE, keys.GCQUEUE + keys.u64(now_ms() + 1)),
        "uploads_in_progress": await count_prefix(kv, keys.UPLOAD, keys.prefix_end(keys.UPLOAD)),
        "journal_entries": await count_prefix(kv, keys.JOURNAL, keys.prefix_end(keys.JOURNAL)),
    }


async def collect(args: argparse.Namespace, kv: KV) -> dict[str, Any]:
    serve = bool(getattr(args, "data", None))
    nodes = await serve_node_rows(args) if serve else await node_rows(args, NodeRegistry(kv))
    report = None
    if not args.no_blocks:
        view = await open_blocks(args, kv)
        try:
            report = await fsck.check(kv, view)
        finally:
            await view.close()
    return {
        "nodes": nodes,
        "nodes_up": sum(1 for n in nodes if n["up"]),
        "nodes_down": [n["node_id"] for n in nodes if not n["up"]],
        "layout": await _layout(kv),
        "leader": await _leader(kv, serve),
        "blocks": asdict(report) if report else None,
        **await _backlog(kv),
    }


def _print(status: dict[str, Any]) -> None:
    down = status["nodes_down"]
    print(
        f"nodes: {status['nodes_up']} up, {len(down)} down"
        + (f" ({', '.join(down)})" if down else "")
    )
    print_nodes(status["nodes"])
    lay = status["layout"]
    print(
        f"layout: v{lay['version']}, R={lay['replicas']}, {lay['partitions']} partitions"
        if lay
        else "layout: none yet"
    )
    print(f"meta leader: {status['leader'] or 'NONE (no meta service leads)'}")
    blocks = status["blocks"]
    if blocks is None:
        print("blocks: not checked (--no-blocks)")
    else:
        print(
            f"blocks: {blocks['blocks']} referenced, {blocks['under_replicated']} "
            f"under-replicated, {blocks['missing']} missing"
        )
    print_table(
        ("BACKGROUND WORK", "ENTRIES"),
        [
            ("GC queue (due now)", f"{status['gc_queued']} ({status['gc_due']})"),
            ("multipart uploads in progress", status["uploads_in_progress"]),
            ("journal entries", status["journal_entries"]),
        ],
        empty="",
    )


def _exit_code(status: dict[str, Any]) -> Exit:
    blocks = status["blocks"]
    if blocks and blocks["missing"]:
        return Exit.MISSING_BLOCKS
    if blocks and blocks["under_replicated"]:
        return Exit.UNDER_REPLICATED
    return Exit.OK


async def status(args: argparse.Namespace, kv: KV) -> int:
    """Exit 0 even with a node down: the status was shown; fsck's codes for lost blocks."""
    data = await collect(args, kv)
    if args.json or args.json_all:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        _print(data)
    return int(_exit_code(data))
