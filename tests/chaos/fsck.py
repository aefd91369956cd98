"""The campaign's own fsck: which blocks every node holds (each node's id listing, over
HTTP as the repairer lists them), and which blocks the live objects need (from the values
the final reads proved each key holds: the same 4 MiB cut as the gateway's)."""

from __future__ import annotations

import asyncio
from collections import Counter

from blockstore.address import block_id
from blockstore.api import all_ids
from blockstore.client import HttpBlockStore
from tests.chaos.values import Value, body

BLOCK = 4 << 20  # the gateway's block size
INLINE_MAX = 64 << 10  # at most this many bytes stay in the metadata record


def blocks_of(value: Value) -> set[bytes]:
    """The block ids of a stored value: each part (or the whole body) cut in 4 MiB."""
    if not value.parts and value.size <= INLINE_MAX:
        return set()
    data, out, at = body(value), set(), 0
    for size in value.parts or (value.size,):
        piece = data[at : at + size]
        out |= {block_id(piece[i : i + BLOCK]) for i in range(0, len(piece), BLOCK)}
        at += size
    return out


def node_holdings(urls: list[str], secret: str) -> Counter:
    """Block id -> how many of the nodes hold it."""

    async def one(url: str) -> set[bytes]:
        store = HttpBlockStore(url, secret)
        try:
            return {bid async for page in all_ids(store) for bid in page}
        finally:
            await store.close()

    async def every() -> list[set[bytes]]:
        return await asyncio.gather(*(one(u) for u in urls))

    copies: Counter = Counter()
    for held in asyncio.run(every()):
        copies.update(held)
    return copies


def ref_states(meta_spec: str, block_ids: set[bytes]) -> dict[bytes, tuple[int | None, int | None]]:
    """Block id -> (reference count or None without a record, GC due time in ms or None
    when the block is not queued), read from the cluster's metadata."""
    from meta import keys
    from meta.open import open_kv
    from meta.records import RefCount

    async def read() -> dict[bytes, tuple[int | None, int | None]]:
        kv = open_kv(meta_spec)
        try:
            due: dict[bytes, int] = {}
            start = keys.GCQUEUE
            end = keys.GCQUEUE + b"\xff" * 9
            while rows := await kv.scan(start, end, limit=1000):
                for k, _ in rows:
                    bid = k[len(keys.GCQUEUE) + 8 :]
                    at = int.from_bytes(k[len(keys.GCQUEUE) : len(keys.GCQUEUE) + 8], "big")
                    due[bid] = min(at, due.get(bid, at))
                start = rows[-1][0] + b"\0"
            out = {}
            for bid in block_ids:
                raw = await kv.get(keys.refcount_key(bid))
                count = RefCount.from_bytes(raw).count if raw is not None else None
                out[bid] = (count, due.get(bid))
            return out
        finally:
            await kv.close()

    return asyncio.run(read())
