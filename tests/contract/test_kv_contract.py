"""The contract of the metadata KV interface (meta.api.KV), run against every backend.

Every backend (tests/contract/conftest.py: KV_BACKENDS) must pass this suite unchanged;
the record layer (meta.store) relies on nothing beyond what is checked here.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from meta.api import (
    KV,
    MAX_TXN_BYTES,
    MAX_TXN_OPS,
    LeaseExpired,
    Txn,
    TxnConflict,
    TxnTooLarge,
)


async def put(kv: KV, *pairs: tuple[bytes, bytes]) -> None:
    """Setup writes, in transactions of at most MAX_TXN_OPS puts."""
    for i in range(0, len(pairs), MAX_TXN_OPS):
        txn = Txn()
        for k, v in pairs[i : i + MAX_TXN_OPS]:
            txn.put(k, v)
        await kv.commit(txn)


async def scan_all(kv: KV, start: bytes = b"\x00", end: bytes = b"\xff" * 8) -> list:
    return await kv.scan(start, end, limit=1_000_000)


# ------------------------------------------------------------------ get / put / delete


async def test_get_missing_is_none(kv: KV) -> None:
    assert await kv.get(b"nope") is None


async def test_put_then_get(kv: KV) -> None:
    await put(kv, (b"a", b"1"))
    assert await kv.get(b"a") == b"1"


async def test_empty_value_is_not_absent(kv: KV) -> None:
    await put(kv, (b"empty", b""))
    assert await kv.get(b"empty") == b""
    await kv.commit(Txn().expect(b"empty", b"").put(b"empty", b"x"))
    assert await kv.get(b"empty") == b"x"


async def test_overwrite(kv: KV) -> None:
    await put(kv, (b"a", b"1"))
    await put(kv, (b"a", b"2"))
    assert await kv.get(b"a") == b"2"


async def test_delete(kv: KV) -> None:
    await put(kv, (b"a", b"1"), (b"b", b"2"))
    await kv.commit(Txn().delete(b"a"))
    assert await kv.get(b"a") is None
    assert await kv.get(b"b") == b"2"


async def test_delete_missing_is_noop(kv: KV) -> None:
    await kv.commit(Txn().delete(b"never-there"))
    assert await kv.get(b"never-there") is None


async def test_empty_txn(kv: KV) -> None:
    await kv.commit(Txn())


async def test_binary_values_round_trip(kv: KV) -> None:
    rnd = random.Random(1)
    value = bytes(rnd.randrange(256) for _ in range(100_000)) + b"\x00\xff"
    await put(kv, (b"bin", value))
    assert await kv.get(b"bin") == value


# ---------------------------------------------------------------------------- compares


async def test_compare_absent_holds(kv: KV) -> None:
    await kv.commit(Txn().expect(b"k", None).put(b"k", b"v"))
    assert await kv.get(b"k") == b"v"


async def test_compare_absent_fails_when_present(kv: KV) -> None:
    await put(kv, (b"k", b"v"))
    with pytest.raises(TxnConflict):
        await kv.commit(Txn().expect(b"k", None).put(b"k", b"w"))
    assert await kv.get(b"k") == b"v"


async def test_compare_value_holds(kv: KV) -> None:
    await put(kv, (b"k", b"v1"))
    await kv.commit(Txn().expect(b"k", b"v1").put(b"k", b"v2"))
    assert await kv.get(b"k") == b"v2"


async def test_compare_value_fails_on_mismatch(kv: KV) -> None:
    await put(kv, (b"k", b"v1"))
    with pytest.raises(TxnConflict):
        await kv.commit(Txn().expect(b"k", b"other").put(b"k", b"v2"))
    assert await kv.get(b"k") == b"v1"


async def test_compare_value_fails_when_absent(kv: KV) -> None:
    with pytest.raises(TxnConflict):
        await kv.commit(Txn().expect(b"k", b"v").put(b"k", b"w"))
    assert await kv.get(b"k") is None


async def test_compare_is_exact_not_prefix(kv: KV) -> None:
    await put(kv, (b"k", b"value"))
    for wrong in (b"valu", b"value\x00", b"", b"VALUE"):
        with pytest.raises(TxnConflict):
            await kv.commit(Txn().expect(b"k", wrong).put(b"k", b"x"))
    assert await kv.get(b"k") == b"value"


async def test_failed_compare_applies_nothing(kv: KV) -> None:
    """All compares hold or nothing of the txn happens: no put, no delete."""
    await put(kv, (b"guard", b"g"), (b"doomed", b"d"), (b"other", b"o"))
    txn = (
        Txn()
        .expect(b"other", b"o")  # holds
        .expect(b"guard", b"not-g")  # fails
        .put(b"new1", b"1")
        .put(b"other", b"changed")
        .delete(b"doomed")
    )
    with pytest.raises(TxnConflict):
        await kv.commit(txn)
    assert await kv.get(b"new1") is None
    assert await kv.get(b"other") == b"o"
    assert await kv.get(b"doomed") == b"d"


async def test_many_compares_all_must_hold(kv: KV) -> None:
    pairs = [(f"c{i:03d}".encode(), f"v{i}".encode()) for i in range(50)]
    await put(kv, *pairs)
    txn = Txn()
    for k, v in pairs:
        txn.expect(k, v)
    txn.put(b"result", b"ok")
    await kv.commit(txn)
    assert await kv.get(b"result") == b"ok"

    txn = Txn()
    for k, v in pairs[:-1]:
        txn.expect(k, v)
    txn.expect(pairs[-1][0], b"stale")
    txn.put(b"result", b"second")
    with pytest.raises(TxnConflict):
        await kv.commit(txn)
    assert await kv.get(b"result") == b"ok"


async def test_compare_then_delete(kv: KV) -> None:
    await put(kv, (b"k", b"v"))
    await kv.commit(Txn().expect(b"k", b"v").delete(b"k"))
    assert await kv.get(b"k") is None
    with pytest.raises(TxnConflict):
        await kv.commit(Txn().expect(b"k", b"v").delete(b"k"))


async def test_conflict_does_not_poison_later_commits(kv: KV) -> None:
    with pytest.raises(TxnConflict):
        await kv.commit(Txn().expect(b"x", b"y").put(b"a", b"1"))
    await kv.commit(Txn().put(b"a", b"2"))
    assert await kv.get(b"a") == b"2"


# ---------------------------------------------------------------------------- atomicity


async def test_many_puts_are_atomic(kv: KV) -> None:
    pairs = [(f"atom/{i:05d}".encode(), f"{i}".encode() * 10) for i in range(MAX_TXN_OPS)]
    txn = Txn()
    for k, v in pairs:
        txn.put(k, v)
    await kv.commit(txn)
    got = await kv.scan(b"atom/", b"atom0", limit=10_000)
    assert got == pairs


async def test_txn_limits_refused_by_every_backend(kv: KV) -> None:
    """Over MAX_TXN_OPS compares, operations or MAX_TXN_BYTES: refused, nothing applied."""
    over = Txn()
    for i in range(MAX_TXN_OPS + 1):
        over.put(f"lim/{i:04d}".encode(), b"v")
    with pytest.raises(ValueError, match="too large"):
        await kv.commit(over)
    compares = Txn().put(b"lim/x", b"v")
    for i in range(MAX_TXN_OPS + 1):
        compares.expect(f"lim/{i:04d}".encode(), None)
    with pytest.raises(ValueError, match="too large"):
        await kv.commit(compares)
    with pytest.raises(ValueError, match="too large"):
        await kv.commit(Txn().put(b"lim/big", b"x" * (MAX_TXN_BYTES + 1)))
    assert await kv.scan(b"lim/", b"lim0") == []
    # Right at the limits: accepted.
    ok = Txn().put(b"lim/big", b"x" * (MAX_TXN_BYTES - 4096))
    await kv.commit(ok)
    assert len(await kv.get(b"lim/big") or b"") == MAX_TXN_BYTES - 4096


def _oversize_txns() -> list[Txn]:
    ops, compares = Txn(), Txn().put(b"lim/x", b"v")
    for i in range(MAX_TXN_OPS + 1):
        ops.put(f"lim/{i:04d}".encode(), b"v")
        compares.expect(f"lim/{i:04d}".encode(), None)
    return [ops, compares, Txn().put(b"lim/big", b"x" * (MAX_TXN_BYTES + 1))]


async def test_oversize_txn_refused_by_the_interface_rule(kv: KV) -> None:
    """Every backend refuses with Txn.check_limits' own error (one rule, meta.api), not a
    backend's: code tested on LMDB meets the same refusal on etcd."""
    for txn in _oversize_txns():
        with pytest.raises(TxnTooLarge) as rule:
            txn.check_limits()
        with pytest.raises(TxnTooLarge) as refused:
            await kv.commit(txn)
        assert str(refused.value) == str(rule.value)
    assert await kv.scan(b"lim/", b"lim0") == []


async def test_puts_and_deletes_in_one_txn(kv: KV) -> None:
    await put(kv, (b"a", b"1"), (b"b", b"2"), (b"c", b"3"))
    await kv.commit(Txn().delete(b"a").put(b"d", b"4").delete(b"c").put(b"b", b"22"))
    assert await scan_all(kv) == [(b"b", b"22"), (b"d", b"4")]


async def test_readers_never_see_half_a_txn(kv: KV) -> None:
    """A reader scanning while big txns commit sees every txn whole or not at all."""
    n_keys = MAX_TXN_OPS
    stop = asyncio.Event()
    torn: list[set[bytes]] = []

    async def writer() -> None:
        for gen in range(30):
            txn = Txn()
            for i in range(n_keys):
                txn.put(f"gen/{i:04d}".encode(), str(gen).encode())
            await kv.commit(txn)
        stop.set()

    async def reader() -> None:
        while not stop.is_set():
            rows = await kv.scan(b"gen/", b"gen0", limit=10_000)
            vals = {v for _, v in rows}
            if rows and (len(rows) != n_keys or len(vals) != 1):
                torn.append(vals)
            await asyncio.sleep(0)

    await asyncio.gather(writer(), reader(), reader())
    assert not torn


# ---------------------------------------------------------------------------- scans


async def test_scan_range_is_half_open_and_ordered(kv: KV) -> None:
    await put(kv, *[(bytes([c]), bytes([c])) for c in b"edcba"])
    rows = await kv.scan(b"b", b"d")
    assert rows == [(b"b", b"b"), (b"c", b"c")]


async def test_scan_binary_key_order(kv: KV) -> None:
    """Keys order as unsigned bytes, shorter first on a common prefix; 0x00 and 0xff too."""
    keys_ = [
        b"\x00",
        b"\x00\x00",
        b"\x00\xff",
        b"\x01",
        b"a",
        b"a\x00",
        b"a\x00\x00",
        b"a\x01",
        b"a\x7f",
        b"a\x80",
        b"a\xff",
        b"a\xff\xff",
        b"ab",
        b"b",
        b"\x7f",
        b"\x80",
        b"\xfe\xff",
        b"\xff",
        b"\xff\x00",
        b"\xff\xff",
        b"\xff\xff\xff",
    ]
    shuffled = list(keys_)
    random.Random(7).shuffle(shuffled)
    await put(kv, *[(k, b"v" + k) for k in shuffled])
    rows = await kv.scan(b"\x00", b"\xff\xff\xff\xff", limit=1000)
    assert [k for k, _ in rows] == sorted(keys_)
    assert all(v == b"v" + k for k, v in rows)
    rev = await kv.scan(b"\x00", b"\xff\xff\xff\xff", limit=1000, reverse=True)
    assert [k for k, _ in rev] == sorted(keys_, reverse=True)


async def test_scan_start_inclusive_end_exclusive_with_binary_bounds(kv: KV) -> None:
    await put(kv, (b"p\x00", b"1"), (b"p\xff", b"2"), (b"p\xff\x00", b"3"), (b"q", b"4"))
    assert [k for k, _ in await kv.scan(b"p\x00", b"p\xff")] == [b"p\x00"]
    assert [k for k, _ in await kv.scan(b"p\xff", b"q")] == [b"p\xff", b"p\xff\x00"]
    assert [k for k, _ in await kv.scan(b"p", b"p\xff\x00")] == [b"p\x00", b"p\xff"]


async def test_scan_limit(kv: KV) -> None:
    await put(kv, *[(f"k{i:03d}".encode(), b"") for i in range(100)])
    rows = await kv.scan(b"k", b"l", limit=10)
    assert [k for k, _ in rows] == [f"k{i:03d}".encode() for i in range(10)]
    rows = await kv.scan(b"k", b"l", limit=10, reverse=True)
    assert [k for k, _ in rows] == [f"k{i:03d}".encode() for i in range(99, 89, -1)]
    assert len(await kv.scan(b"k", b"l", limit=1)) == 1
    assert len(await kv.scan(b"k", b"l", limit=100)) == 100
    assert len(await kv.scan(b"k", b"l", limit=1000)) == 100


async def test_scan_limit_zero_is_empty(kv: KV) -> None:
    await put(kv, (b"a", b"1"))
    assert await kv.scan(b"a", b"b", limit=0) == []


async def test_scan_empty_ranges(kv: KV) -> None:
    await put(kv, (b"a", b"1"), (b"c", b"3"))
    assert await kv.scan(b"b", b"c") == []  # nothing in between
    assert await kv.scan(b"b", b"b") == []  # start == end
    assert await kv.scan(b"c", b"a") == []  # start > end
    assert await kv.scan(b"c", b"a", reverse=True) == []
    assert await kv.scan(b"d", b"z") == []  # past the last key
    assert await kv.scan(b"b", b"c", reverse=True) == []
    assert await kv.scan(b"a", b"a", reverse=True) == []


async def test_scan_empty_store(kv: KV) -> None:
    assert await kv.scan(b"\x00", b"\xff") == []
    assert await kv.scan(b"\x00", b"\xff", reverse=True) == []


async def test_reverse_scan_bounds(kv: KV) -> None:
    await put(kv, *[(bytes([c]), b"") for c in b"abcdef"])
    assert [k for k, _ in await kv.scan(b"b", b"e", reverse=True)] == [b"d", b"c", b"b"]
    # end beyond the last key, and end exactly at a key (excluded)
    assert [k for k, _ in await kv.scan(b"e", b"z", reverse=True)] == [b"f", b"e"]
    assert [k for k, _ in await kv.scan(b"a", b"c", reverse=True)] == [b"b", b"a"]
    # end between keys
    assert [k for k, _ in await kv.scan(b"a", b"c\x00", reverse=True)] == [b"c", b"b", b"a"]


async def test_scan_pagination_covers_range_once(kv: KV) -> None:
    rnd = random.Random(3)
    keys_ = sorted(
        {bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 12))) for _ in range(500)}
    )
    await put(kv, *[(k, k) for k in keys_])
    seen: list[bytes] = []
    start = b"\x00"
    while True:
        rows = await kv.scan(start, b"\xff" * 13, limit=37)
        seen.extend(k for k, _ in rows)
        if len(rows) < 37:
            break
        start = rows[-1][0] + b"\x00"  # the next key after the last one
    assert seen == [k for k in keys_ if k >= b"\x00"]


async def test_scan_returns_values(kv: KV) -> None:
    await put(kv, (b"x1", b"one"), (b"x2", b"two"))
    assert await kv.scan(b"x", b"y") == [(b"x1", b"one"), (b"x2", b"two")]
    assert await kv.scan(b"x", b"y", reverse=True) == [(b"x2", b"two"), (b"x1", b"one")]


# ---------------------------------------------------------------------------- key size


async def test_max_key_size_keys_work(kv: KV) -> None:
    assert kv.max_key_size >= 256
    big = b"k" * (kv.max_key_size - 1) + b"\xff"
    big2 = b"k" * (kv.max_key_size - 1) + b"\x00"
    await put(kv, (big, b"1"), (big2, b"2"))
    assert await kv.get(big) == b"1"
    await kv.commit(Txn().expect(big, b"1").put(big, b"3"))
    rows = await kv.scan(b"k", b"l")
    assert rows == [(big2, b"2"), (big, b"3")]
    await kv.commit(Txn().delete(big))
    assert await kv.get(big) is None


async def test_key_over_max_is_refused_and_txn_not_applied(kv: KV) -> None:
    too_big = b"k" * (kv.max_key_size + 1)
    with pytest.raises(Exception) as info:  # noqa: B017 - backend-specific error type
        await kv.commit(Txn().put(b"side-effect", b"1").put(too_big, b"v"))
    assert not isinstance(info.value, TxnConflict)
    assert await kv.get(b"side-effect") is None
    # the store is still usable afterwards
    await put(kv, (b"after", b"ok"))
    assert await kv.get(b"after") == b"ok"


# ---------------------------------------------------------------------------- concurrency


async def test_concurrent_cas_increments(kv: KV) -> None:
    """200 coroutines each add one to a counter with compare-and-swap retries: 200."""
    counter = b"counter"
    attempts = 0

    async def incr() -> None:
        nonlocal attempts
        while True:
            attempts += 1
            raw = await kv.get(counter)
            n = int(raw) if raw is not None else 0
            try:
                await kv.commit(Txn().expect(counter, raw).put(counter, str(n + 1).encode()))
                return
            except TxnConflict:
                await asyncio.sleep(0)

    await asyncio.gather(*(incr() for _ in range(200)))
    assert await kv.get(counter) == b"200"
    assert attempts >= 200


async def test_concurrent_create_if_absent_has_one_winner(kv: KV) -> None:
    async def create(i: int) -> bool:
        try:
            await kv.commit(Txn().expect(b"lock", None).put(b"lock", str(i).encode()))
            return True
        except TxnConflict:
            return False

    results = await asyncio.gather(*(create(i) for i in range(100)))
    assert sum(results) == 1
    winner = results.index(True)
    assert await kv.get(b"lock") == str(winner).encode()


async def test_concurrent_independent_commits_all_land(kv: KV) -> None:
    async def write(i: int) -> None:
        await kv.commit(
            Txn().expect(f"ind/{i:04d}".encode(), None).put(f"ind/{i:04d}".encode(), b"x")
        )

    await asyncio.gather(*(write(i) for i in range(500)))
    rows = await kv.scan(b"ind/", b"ind0", limit=10_000)
    assert len(rows) == 500


async def test_concurrent_transfers_preserve_total(kv: KV) -> None:
    """Multi-key CAS: money moves between 10 accounts; the sum never changes."""
    accounts = [f"acct/{i}".encode() for i in range(10)]
    await put(kv, *[(a, b"100") for a in accounts])
    rnd = random.Random(5)

    async def transfer(seed: int) -> None:
        r = random.Random(seed)
        for _ in range(10):
            a, b = r.sample(accounts, 2)
            while True:
                ra, rb = await kv.get(a), await kv.get(b)
                assert ra is not None and rb is not None
                txn = (
                    Txn()
                    .expect(a, ra)
                    .expect(b, rb)
                    .put(a, str(int(ra) - 1).encode())
                    .put(b, str(int(rb) + 1).encode())
                )
                try:
                    await kv.commit(txn)
                    break
                except TxnConflict:
                    await asyncio.sleep(0)

    await asyncio.gather(*(transfer(rnd.randrange(1 << 30)) for _ in range(30)))
    rows = await kv.scan(b"acct/", b"acct0")
    assert sum(int(v) for _, v in rows) == 1000


# ---------------------------------------------------------------------------- durability


async def test_durable_across_close_and_reopen(kv_factory) -> None:
    kv1 = await kv_factory.open()
    await put(kv1, *[(f"d/{i:04d}".encode(), f"v{i}".encode()) for i in range(300)])
    await kv1.commit(Txn().delete(b"d/0000"))
    await kv1.commit(Txn().expect(b"d/0001", b"v1").put(b"d/0001", b"changed"))
    with pytest.raises(TxnConflict):
        await kv1.commit(Txn().expect(b"d/0002", b"wrong").put(b"d/0002", b"no"))
    await kv1.close()

    kv2 = await kv_factory.open()
    try:
        rows = await kv2.scan(b"d/", b"d0", limit=1000)
        assert len(rows) == 299
        assert await kv2.get(b"d/0000") is None
        assert await kv2.get(b"d/0001") == b"changed"
        assert await kv2.get(b"d/0002") == b"v2"
        assert await kv2.get(b"d/0299") == b"v299"
        await kv2.commit(Txn().expect(b"d/0001", b"changed").put(b"d/0001", b"again"))
    finally:
        await kv2.close()

    kv3 = await kv_factory.open()
    try:
        assert await kv3.get(b"d/0001") == b"again"
    finally:
        await kv3.close()


async def test_concurrent_commits_durable_after_reopen(kv_factory) -> None:
    kv1 = await kv_factory.open()

    async def write(i: int) -> None:
        await kv1.commit(Txn().put(f"c/{i:04d}".encode(), str(i).encode()))

    await asyncio.gather(*(write(i) for i in range(400)))
    await kv1.close()
    kv2 = await kv_factory.open()
    try:
        rows = await kv2.scan(b"c/", b"c0", limit=1000)
        assert rows == [(f"c/{i:04d}".encode(), str(i).encode()) for i in range(400)]
    finally:
        await kv2.close()


# ------------------------------------------------------------------------------ leases


async def test_lease_keys_live_while_kept_alive(kv: KV) -> None:
    lease = await kv.grant_lease(2)
    await kv.commit(Txn().put(b"alive/a", b"1", lease=lease).put(b"plain", b"p"))
    for _ in range(4):  # 3 s of keepalives, past the first ttl
        await asyncio.sleep(0.75)
        assert await lease.keepalive()
    await kv.commit(Txn().put(b"other", b"x"))  # (LMDB ends expired leases on commits)
    assert await kv.get(b"alive/a") == b"1"


async def test_expired_lease_deletes_its_keys(kv: KV) -> None:
    lease = await kv.grant_lease(1)
    await kv.commit(Txn().put(b"alive/a", b"1", lease=lease).put(b"alive/b", b"2", lease=lease))
    await kv.commit(Txn().put(b"plain", b"p"))
    deadline = asyncio.get_running_loop().time() + 10
    while await kv.scan(b"alive/", b"alive0"):
        assert asyncio.get_running_loop().time() < deadline, "lease keys outlived the lease"
        await asyncio.sleep(0.25)
        await kv.commit(Txn().put(b"tick", b"t"))
    assert await kv.get(b"plain") == b"p"
    assert not await lease.keepalive()
    with pytest.raises(LeaseExpired):
        await kv.commit(Txn().put(b"alive/c", b"3", lease=lease))
    assert await kv.get(b"alive/c") is None


async def test_revoke_deletes_keys_at_once(kv: KV) -> None:
    lease = await kv.grant_lease(30)
    await kv.commit(Txn().put(b"alive/a", b"1", lease=lease))
    await lease.revoke()
    assert await kv.get(b"alive/a") is None
    assert not await lease.keepalive()


async def test_key_taken_over_by_a_newer_lease_survives_the_old_one(kv: KV) -> None:
    """An election key: holder A's lease ends after B put the key under its own lease."""
    a = await kv.grant_lease(30)
    await kv.commit(Txn().expect(b"leader", None).put(b"leader", b"A", lease=a))
    await kv.commit(Txn().expect(b"leader", b"A").delete(b"leader"))  # A resigns
    b = await kv.grant_lease(30)
    await kv.commit(Txn().expect(b"leader", None).put(b"leader", b"B", lease=b))
    await a.revoke()
    assert await kv.get(b"leader") == b"B"
    await b.revoke()
    assert await kv.get(b"leader") is None
