"""What version history costs: ListObjects pages/s on a bucket whose N keys have 10
versions each, next to a bucket of N keys without history; and metadata PUT commits/s
with versioning on and off.

    python -m benchmarks.versions [--keys 20000] [--versions 10] [--seconds 5]

It drives the record layer (meta.store.MetaStore) on a real LMDB in a temp dir, with no
HTTP in between, so the figures are the metadata's own: a listing reads only the
current-version index, and the history beside it should not slow it down. Heads are
inline and empty (no block store): a PUT's figure is its metadata commit, with 64
writers sharing LMDB's group commit.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from meta.lmdb_kv import LmdbKV
from meta.records import ObjectHead
from meta.store import MetaStore

WRITERS = 64


async def put_all(store: MetaStore, bucket: str, names: list[str]) -> float:
    """PUT every name once (WRITERS at a time); returns commits per second."""
    queue = list(reversed(names))

    async def writer() -> None:
        while queue:
            await store.put_object(bucket, ObjectHead(queue.pop(), inline=b""), {})

    start = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    return len(names) / (time.perf_counter() - start)


async def list_rate(store: MetaStore, bucket: str, seconds: float) -> float:
    """Pages of 1,000 keys per second, walking the whole bucket again and again."""
    pages, after = 0, None
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        entries, truncated = await store.list_objects(bucket, after=after, limit=1000)
        pages += 1
        after = entries[-1].key if truncated else None
    return pages / (time.perf_counter() - start)


async def main(keys: int, versions: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="cairn-bench-versions-") as tmp:
        kv = LmdbKV(tmp, map_size=8 << 30)
        store = MetaStore(kv)
        names = [f"dir{i % 100:02d}/obj{i:07d}" for i in range(keys)]
        await store.create_bucket("plain", "us-east-1")
        await store.create_bucket("history", "us-east-1")

        def enable(rec) -> None:  # type: ignore[no-untyped-def]
            rec.config["versioning"] = "Enabled"

        await store.update_bucket("history", enable)
        await put_all(store, "plain", names)
        for _ in range(versions - 1):
            await put_all(store, "history", names)
        # Back to back on the grown store, so the two figures see the same conditions:
        # an overwrite that replaces the head, and one that adds the tenth version.
        put_off = await put_all(store, "plain", names)
        put_on = await put_all(store, "history", names)
        plain = await list_rate(store, "plain", seconds)
        deep = await list_rate(store, "history", seconds)
        await kv.close()
    print(f"keys {keys}, versions per key in the versioned bucket {versions}")
    print(f"PUT commits/s  versioning off {put_off:8.0f}  (overwrites)")
    print(f"PUT commits/s  versioning on  {put_on:8.0f}  (the last version of each key)")
    print(f"list pages/s   no history     {plain:8.1f}")
    print(f"list pages/s   {versions} versions/key {deep:8.1f}  ({deep / plain:.0%} of no history)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=20_000)
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    asyncio.run(main(a.keys, a.versions, a.seconds))
