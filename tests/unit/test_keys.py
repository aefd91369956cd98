"""KeyCodec: object keys come back from the index in S3 order (UTF-8 bytes), whatever
their length, including keys longer than the backend's key limit (grouped keys)."""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meta import keys
from meta.lmdb_kv import LmdbKV
from meta.records import ObjectHead
from meta.store import MetaStore

BUCKET = "order-test"
S3_MAX_KEY = 1024


def _room() -> int:
    return keys.KeyCodec(keys.object_prefix(BUCKET), 511).room


ROOM = _room()


def utf8_len(s: str) -> int:
    return len(s.encode())


def fit(s: str) -> str:
    """Cut s to at most 1024 UTF-8 bytes on a character boundary."""
    b = s.encode()[:S3_MAX_KEY]
    return b.decode("utf-8", "ignore")


async def _put_keys(store: MetaStore, names: list[str]) -> None:
    sem = asyncio.Semaphore(64)

    async def one(k: str) -> None:
        async with sem:
            head = ObjectHead(key=k, inline=b"v:" + k.encode()[:16], size=0)
            await store.put_object(BUCKET, head, {})

    await asyncio.gather(*(one(k) for k in names))


async def _check_order(path: Path, names: list[str], pages: tuple[int, ...] = (1, 3, 7)) -> None:
    kv = LmdbKV(path, map_size=1 << 28)
    try:
        store = MetaStore(kv)
        await store.create_bucket(BUCKET, "us-east-1")
        await _put_keys(store, names)
        expected = sorted({k.encode() for k in names})

        rows = await store.scan_objects(BUCKET, b"", False, limit=100_000)
        got = [k for k, _ in rows]
        assert got == expected
        for k, raw in rows:  # each row carries its own head
            assert ObjectHead.from_bytes(raw).key.encode() == k

        # Paging with an exclusive start at the last key returned yields each key once.
        for page in pages:
            seen: list[bytes] = []
            start, exclusive = b"", False
            while True:
                rows = await store.scan_objects(BUCKET, start, exclusive, limit=page)
                assert len(rows) <= page
                seen.extend(k for k, _ in rows)
                if len(rows) < page:
                    break
                start, exclusive = rows[-1][0], True
            assert seen == expected, f"page size {page}"

        # Starting anywhere (at a key, inclusive or not, or between keys) gives the tail.
        rnd = random.Random(len(names))
        probes = list(expected[:: max(1, len(expected) // 8)])
        probes += [
            k[: rnd.randrange(len(k) + 1)] for k in rnd.sample(expected, min(5, len(expected)))
        ]
        probes += [k + b"\x00" for k in probes[:3]] + [b"", b"\xf4\x8f\xbf\xbf"]
        for probe in probes:
            for exclusive in (False, True):
                rows = await store.scan_objects(BUCKET, probe, exclusive, limit=100_000)
                want = [k for k in expected if k > probe or (k == probe and not exclusive)]
                assert [k for k, _ in rows] == want, (probe, exclusive)
    finally:
        await kv.close()


# -------------------------------------------------------------------- strategies

_chars = st.one_of(
    st.sampled_from(
        list("ab/-._~ ") + ["\x01", "\x7f", "é", "ß", "€", "\uffff", "😀", "\U0010ffff"]
    ),
    st.characters(blacklist_categories=("Cs",)),
)
_suffix = st.text(_chars, min_size=0, max_size=12)
_long_suffix = st.text(_chars, min_size=0, max_size=600)

_bases = st.sampled_from(
    [
        "",
        "a",
        "a/",
        "photos/2024/",
        "x" * 600,  # many long keys share their first 600 bytes: one group
        "x" * 599 + "y",
        "é" * 300,  # 600 bytes of two-byte characters
        "x" * (ROOM - 1),
        "x" * ROOM,  # exactly the room: not grouped, a prefix of the grouped ones
        "x" * (ROOM + 1),
        "x" * (ROOM - 2) + "€",  # a character straddling the cut
        "😀" * 200,
        "z" * 1000,
    ]
)


@st.composite
def key_sets(draw: st.DrawFn) -> list[str]:
    n = draw(st.integers(min_value=1, max_value=60))
    out: list[str] = []
    for _ in range(n):
        base = draw(_bases)
        suffix = draw(st.one_of(_suffix, _long_suffix))
        k = fit(base + suffix)
        if k:
            out.append(k)
    # keys that are prefixes of others
    for k in list(out)[:5]:
        cut = draw(st.integers(min_value=1, max_value=len(k)))
        out.append(k[:cut])
    # exact 1024-byte keys
    out.append(fit("x" * 600 + draw(st.text(_chars, min_size=424, max_size=424))))
    out.append("x" * 600 + "q" * 424)
    return out


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(names=key_sets())
def test_scan_order_is_utf8_byte_order(tmp_path: Path, names: list[str]) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as d:
        asyncio.run(_check_order(Path(d), names))


def test_scan_order_seeded_large(tmp_path: Path) -> None:
    """One big deterministic set: 1500 keys, most of them long and grouped."""
    rnd = random.Random(42)
    alphabet = "ab/é€😀\x01~"
    names: set[str] = set()
    shared = "".join(rnd.choice("xyz") for _ in range(600))
    for i in range(1500):
        kind = i % 5
        if kind == 0:
            k = shared + "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 140)))
        elif kind == 1:
            k = shared[: rnd.randrange(1, 600)]
        elif kind == 2:
            k = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 40)))
        elif kind == 3:
            k = "x" * ROOM + "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 20)))
        else:
            k = shared + "".join(rnd.choice("xyz") for _ in range(424))
        k = fit(k)
        if k:
            names.add(k)
    order = sorted(names, key=lambda _: rnd.random())
    asyncio.run(_check_order(tmp_path / "kv", order, pages=(40, 333)))


def test_codec_room_and_grouping() -> None:
    codec = keys.KeyCodec(keys.object_prefix(BUCKET), 511)
    short = b"k" * codec.room
    assert codec.encode(short) == codec.prefix + short
    assert not codec.is_grouped(codec.encode(short))
    long1 = b"k" * codec.room + b"a"
    long2 = b"k" * codec.room + b"b"
    e1, e2 = codec.encode(long1), codec.encode(long2)
    assert codec.is_grouped(e1) and codec.is_grouped(e2)
    assert len(e1) <= 511 and len(codec.encode(b"k" * 1024)) <= 511
    assert e1 != e2
    lo, hi = codec.group_range(e1)
    assert lo <= e1 < hi and lo <= e2 < hi
    assert not (lo <= codec.encode(short) < hi)
    assert codec.encode(short) < e1


def test_prefix_end() -> None:
    assert keys.prefix_end(b"a") == b"b"
    assert keys.prefix_end(b"a\xff") == b"b"
    assert keys.prefix_end(b"a\x00") == b"a\x01"
    for p in (b"a", b"a\xff", b"ab\xfe", b"\x00"):
        end = keys.prefix_end(p)
        assert p < end
        assert p + b"\xff" * 40 < end
