"""MetaStore.list_objects against a brute-force model of S3 listing semantics.

The model: keys under the prefix; with a delimiter, a key whose remainder (after the
prefix) contains the delimiter rolls up into the common prefix ending at the first
delimiter; entries (keys and common prefixes) sort by UTF-8 bytes; ``after`` is exclusive
and a common prefix at or before it is not repeated; a page holds ``limit`` entries and
is truncated iff more follow.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meta import keys
from meta.api import KV, Txn
from meta.lmdb_kv import LmdbKV
from meta.records import ObjectHead
from meta.store import ListEntry, MetaStore

BUCKET = "listing"

Entry = tuple[bytes, bool]  # (key or common prefix as UTF-8, is common prefix)


def model(
    names: list[str], prefix: str, delimiter: str, after: str | None, limit: int
) -> tuple[list[Entry], bool]:
    p, d = prefix.encode(), delimiter.encode()
    entries: set[Entry] = set()
    for name in names:
        k = name.encode()
        if not k.startswith(p):
            continue
        if d:
            i = k.find(d, len(p))
            if i >= 0:
                entries.add((k[: i + len(d)], True))
                continue
        entries.add((k, False))
    ordered = sorted(entries)
    if after is not None:
        a = after.encode()
        ordered = [e for e in ordered if e[0] > a]
    return ordered[:limit], len(ordered) > limit


def as_entries(got: list[ListEntry]) -> list[Entry]:
    out = []
    for e in got:
        if e.head is None:
            out.append((e.key.encode("utf-8", "surrogateescape"), True))
        else:
            assert e.head.key == e.key
            out.append((e.key.encode(), False))
    return out


class CountingKV:
    """A thin real wrapper that counts the scans (and rows) its user asks for."""

    def __init__(self, inner: KV) -> None:
        self.inner = inner
        self.max_key_size = inner.max_key_size
        self.scans = 0
        self.rows = 0
        self.gets = 0

    def reset(self) -> None:
        self.scans = self.rows = self.gets = 0

    async def get(self, key: bytes) -> bytes | None:
        self.gets += 1
        return await self.inner.get(key)

    async def scan(
        self, start: bytes, end: bytes, limit: int = 1000, *, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        self.scans += 1
        rows = await self.inner.scan(start, end, limit, reverse=reverse)
        self.rows += len(rows)
        return rows

    async def commit(self, txn: Txn) -> None:
        await self.inner.commit(txn)

    async def close(self) -> None:
        await self.inner.close()


async def fill(store: MetaStore, names: list[str]) -> None:
    sem = asyncio.Semaphore(128)

    async def one(k: str) -> None:
        async with sem:
            await store.put_object(BUCKET, ObjectHead(key=k, inline=b"x", size=1), {})

    await asyncio.gather(*(one(k) for k in names))


async def paginate(
    store: MetaStore, prefix: str, delimiter: str, limit: int, after: str | None = None
) -> list[Entry]:
    """Follow pages to the end, continuing after the last entry of each page."""
    seen: list[Entry] = []
    for _ in range(100_000):
        got, truncated = await store.list_objects(BUCKET, prefix, delimiter, after, limit)
        page = as_entries(got)
        assert len(page) <= limit
        seen.extend(page)
        if not truncated:
            return seen
        assert page, "a truncated page must not be empty"
        after = page[-1][0].decode("utf-8", "surrogateescape")
    raise AssertionError("pagination did not end")


async def check_listings(path: Path, names: list[str], queries: list[tuple[str, str, int]]) -> None:
    kv = LmdbKV(path, map_size=1 << 28)
    try:
        store = MetaStore(kv)
        await store.create_bucket(BUCKET, "us-east-1")
        await fill(store, names)
        rnd = random.Random(len(names) * 7919 + len(queries))
        for prefix, delimiter, limit in queries:
            # one page from the start
            got, truncated = await store.list_objects(BUCKET, prefix, delimiter, None, limit)
            want, want_trunc = model(names, prefix, delimiter, None, limit)
            assert (as_entries(got), truncated) == (want, want_trunc), (prefix, delimiter, limit)

            # every page, continuing after the last entry: each entry exactly once
            full, _ = model(names, prefix, delimiter, None, 10**9)
            assert await paginate(store, prefix, delimiter, limit) == full, (
                prefix,
                delimiter,
                limit,
            )

            # one page after an arbitrary marker (a key, a prefix of one, or a near miss)
            cands = [k for k in names[:20]] + [k[: len(k) // 2] for k in names[:5]] + [prefix]
            marker = rnd.choice(cands) if cands else ""
            if rnd.random() < 0.3:
                marker += rnd.choice(["\x00", "/", "~", "é"])
            got, truncated = await store.list_objects(BUCKET, prefix, delimiter, marker, limit)
            want, want_trunc = model(names, prefix, delimiter, marker, limit)
            assert (as_entries(got), truncated) == (want, want_trunc), (
                prefix,
                delimiter,
                marker,
                limit,
            )
    finally:
        await kv.close()


# -------------------------------------------------------------------- random key sets

_LONG = "L" * 600  # shared by many long keys: they are grouped in the index
_parts = st.sampled_from(["a", "b", "/", "//", "-", "|", "é", "€", "ab", "😀", "~", "0", "9"])


@st.composite
def key_and_queries(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str, int]]]:
    n = draw(st.integers(min_value=0, max_value=60))
    names: set[str] = set()
    for _ in range(n):
        base = draw(st.sampled_from(["", "", "a/", "b/c/", "dir|", _LONG, _LONG + "/", "é/"]))
        body = "".join(draw(st.lists(_parts, min_size=0, max_size=8)))
        tail = draw(st.sampled_from(["", "", "x" * 450, "/" + "y" * 500]))
        k = (base + body + tail).encode()[:1024].decode("utf-8", "ignore")
        if k:
            names.add(k)
    names_l = sorted(names)
    queries = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        prefix = draw(
            st.sampled_from(["", "", "a", "a/", "b/c/", "é", _LONG, _LONG + "/", _LONG[:300]])
        )
        delimiter = draw(st.sampled_from(["", "/", "/", "//", "|", "ab", "é", "😀", "/a"]))
        limit = draw(st.sampled_from([1, 2, 3, 5, 1000]))
        queries.append((prefix, delimiter, limit))
    return names_l, queries


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=key_and_queries())
def test_list_objects_matches_model(tmp_path: Path, case) -> None:
    names, queries = case
    with tempfile.TemporaryDirectory(dir=tmp_path) as d:
        asyncio.run(check_listings(Path(d), names, queries))


def test_list_objects_seeded_tree(tmp_path: Path) -> None:
    """A deterministic tree: directories, long grouped keys under a long prefix, and
    multi-character delimiters."""
    rnd = random.Random(1234)
    names: set[str] = set()
    for d in range(12):
        for f in range(rnd.randrange(1, 15)):
            names.add(f"dir{d:02d}/sub{f % 3}/file{f:03d}")
            names.add(f"dir{d:02d}//double{f}")
            names.add(f"dir{d:02d}/file{f:03d}.txt")
    for i in range(150):
        tail = "".join(rnd.choice("ab/|é") for _ in range(rnd.randrange(0, 30)))
        names.add(
            (_LONG + tail + "z" * rnd.randrange(0, 400)).encode()[:1024].decode("utf-8", "ignore")
        )
        if i % 10 == 0:
            names.add(_LONG[: rnd.randrange(1, 600)])
    names.update(["top", "top/", "top//", "a", "a/b", "a|b|c"])
    queries = [
        (p, d, lim)
        for p in ("", "dir03/", _LONG, _LONG[:500], _LONG + "a")
        for d in ("", "/", "//", "|", "sub", "é")
        for lim in (3, 1000)
    ]
    asyncio.run(check_listings(tmp_path / "kv", sorted(names), queries))


# -------------------------------------------------------------------- cost of a listing


async def test_common_prefix_is_skipped_in_one_seek(tmp_path: Path) -> None:
    """10,000 keys under one common prefix: a delimiter listing does a few scans, not a
    walk through them."""
    counting = CountingKV(LmdbKV(tmp_path / "kv", map_size=1 << 30))
    store = MetaStore(counting)
    try:
        await store.create_bucket(BUCKET, "us-east-1")
        names = [f"big/{i:05d}" for i in range(10_000)] + ["a", "c/1", "c/2", "d"]
        # written in bulk through the KV (the put path is tested elsewhere)
        codec = keys.KeyCodec(keys.object_prefix(BUCKET), counting.max_key_size)
        for i in range(0, len(names), 100):
            txn = Txn()
            for k in names[i : i + 100]:
                txn.put(codec.encode(k.encode()), ObjectHead(key=k, inline=b"", size=0).to_bytes())
            await counting.commit(txn)

        for limit in (1000, 3, 1):
            counting.reset()
            seen = await paginate(store, "", "/", limit)
            assert seen == [(b"a", False), (b"big/", True), (b"c/", True), (b"d", False)]
            pages = -(-4 // limit)
            assert counting.scans <= 6 * pages, (limit, counting.scans)

        counting.reset()
        got, truncated = await store.list_objects(BUCKET, "big/", "/", None, 5)
        assert [e.key for e in got] == [f"big/{i:05d}" for i in range(5)] and truncated
        assert counting.scans <= 3 and counting.rows <= 20

        counting.reset()
        got, truncated = await store.list_objects(BUCKET, "", "/", "big/", 1000)
        assert [e.key for e in got] == ["c/", "d"] and not truncated
        assert counting.scans <= 6
    finally:
        await counting.close()


async def test_delimiter_listing_reads_rows_in_proportion_to_the_page(tmp_path: Path) -> None:
    """200 directories of 200 keys each, listed with '/' in pages of 200: each common
    prefix should cost a seek, not a read of up to a page of rows inside it. The whole
    page must read O(page) rows, not O(page^2) (here 40,000 keys, all of the bucket)."""
    counting = CountingKV(LmdbKV(tmp_path / "kv", map_size=1 << 30))
    store = MetaStore(counting)
    try:
        await store.create_bucket(BUCKET, "us-east-1")
        codec = keys.KeyCodec(keys.object_prefix(BUCKET), counting.max_key_size)
        for d in range(200):
            for half in (0, 100):
                txn = Txn()
                for f in range(half, half + 100):
                    k = f"d{d:03d}/f{f:03d}"
                    head = ObjectHead(key=k, inline=b"", size=0)
                    txn.put(codec.encode(k.encode()), head.to_bytes())
                await counting.commit(txn)
        counting.reset()
        got, truncated = await store.list_objects(BUCKET, "", "/", None, 200)
        assert [e.key for e in got] == [f"d{d:03d}/" for d in range(200)]
        assert not truncated
        assert counting.rows <= 20 * 200, f"read {counting.rows} rows for a page of 200 entries"
    finally:
        await counting.close()


async def test_listing_sees_writes_and_deletes(tmp_path: Path) -> None:
    kv = LmdbKV(tmp_path / "kv", map_size=1 << 28)
    store = MetaStore(kv)
    try:
        await store.create_bucket(BUCKET, "us-east-1")
        await fill(store, ["a/1", "a/2", "b"])
        await store.delete_object(BUCKET, "a/1")
        got, _ = await store.list_objects(BUCKET, "", "/")
        assert [(e.key, e.head is None) for e in got] == [("a/", True), ("b", False)]
        await store.delete_object(BUCKET, "a/2")
        got, _ = await store.list_objects(BUCKET, "", "/")
        assert [e.key for e in got] == ["b"]
    finally:
        await kv.close()
