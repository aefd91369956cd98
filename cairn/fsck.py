"""`cairn admin fsck`: is every block that metadata refers to stored on R nodes?

It walks the block reference records (`C<block id>`, meta/refs.py) rather than the
objects: every version, current or not, and every part of an upload in progress holds one
reference per block, so a record with a count above zero is exactly "a block something
still needs", and walking them reads each block once however many versions share it.
Records are read a page at a time and each page is asked of every node with one batched
`has`, so memory stays bounded by the page whatever the store holds.

A block held by fewer than R answering nodes is under-replicated (repair copies it back);
one held by none is missing (its objects cannot be read). Blocks only on nodes that do not
answer count as missing too: they cannot be read now. Exit status 7 when any block is
missing, 8 when some are under-replicated only, 0 when all are whole.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field

from cairn.block_view import BlockView, open_blocks
from cairn.exits import Exit
from cairn.tables import print_table
from meta import keys
from meta.api import KV
from meta.records import DELETING, RefCount

PAGE = 500  # reference records read, and ids asked of each node, at a time
SHOWN = 100  # block ids listed in a report, at most, per kind


@dataclass
class FsckReport:
    replicas: int
    nodes_checked: list[str]
    nodes_down: list[str]
    blocks: int = 0
    whole: int = 0
    under_replicated: int = 0
    missing: int = 0
    under_replicated_ids: list[str] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> Exit:
        if self.missing:
            return Exit.MISSING_BLOCKS
        return Exit.UNDER_REPLICATED if self.under_replicated else Exit.OK

    def count(self, block_id: bytes, copies: int) -> None:
        self.blocks += 1
        if copies == 0:
            self.missing += 1
            if len(self.missing_ids) < SHOWN:
                self.missing_ids.append(block_id.hex())
        elif copies < self.replicas:
            self.under_replicated += 1
            if len(self.under_replicated_ids) < SHOWN:
                self.under_replicated_ids.append(block_id.hex())
        else:
            self.whole += 1


async def referenced_blocks(kv: KV) -> AsyncIterator[list[bytes]]:
    """Pages of ids of blocks with a live reference (count > 0, not claimed by GC)."""
    start, end = keys.REFCOUNT, keys.prefix_end(keys.REFCOUNT)
    while True:
        rows = await kv.scan(start, end, limit=PAGE)
        if not rows:
            return
        page = [
            k[len(keys.REFCOUNT) :]
            for k, v in rows
            if (count := RefCount.from_bytes(v).count) > 0 and count != DELETING
        ]
        if page:
            yield page
        start = rows[-1][0] + b"\0"


async def check(kv: KV, view: BlockView) -> FsckReport:
    up = view.up
    report = FsckReport(view.replicas, sorted(up), sorted(view.down))
    async for page in referenced_blocks(kv):
        copies = [0] * len(page)
        for store in up.values():
            for i, held in enumerate(await store.has(page)):
                copies[i] += bool(held)
        for block_id, n in zip(page, copies, strict=True):
            report.count(block_id, n)
    return report


def print_report(report: FsckReport) -> None:
    down = f", down: {', '.join(report.nodes_down)}" if report.nodes_down else ""
    print(
        f"checked {report.blocks} referenced blocks on {len(report.nodes_checked)} node(s) "
        f"for R={report.replicas}{down}"
    )
    print_table(
        ("STATE", "BLOCKS"),
        [
            ("whole", report.whole),
            ("under-replicated", report.under_replicated),
            ("missing", report.missing),
        ],  # fmt: skip
        empty="",
    )
    for kind, ids in (("missing", report.missing_ids), ("under-replicated", report.under_replicated_ids)):  # fmt: skip
        for block_id in ids:
            print(f"{kind}: {block_id}")
    print("OK: every block is whole" if report.exit_code == Exit.OK else "NOT OK")


async def fsck(args: argparse.Namespace, kv: KV) -> int:
    view = await open_blocks(args, kv)
    try:
        report = await check(kv, view)
    finally:
        await view.close()
    if args.json or args.json_all:
        data = asdict(report) | {"ok": report.exit_code == Exit.OK}
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print_report(report)
    return int(report.exit_code)
