"""The contract of a block store (blockstore.api.BlockStore), run against every backend.

Blocks are immutable and addressed by the BLAKE3 hash of their bytes; a store never
serves bytes that do not hash to the id asked for.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from blockstore.address import block_id
from blockstore.api import BlockCorrupt, BlockNotFound, BlockStore, BlockStoreFull


def blk(n: int, size: int = 1000) -> tuple[bytes, bytes]:
    data = (n.to_bytes(8, "big") * (size // 8 + 1))[:size]
    return block_id(data), data


async def test_put_get_round_trip(block_store: BlockStore) -> None:
    data = os.urandom(100_000)
    bid = block_id(data)
    await block_store.put(bid, data)
    assert await block_store.get(bid) == data


async def test_large_block_round_trip(block_store: BlockStore) -> None:
    data = os.urandom(4 << 20)  # above the hashing thread threshold
    bid = block_id(data)
    await block_store.put(bid, data)
    assert await block_store.get(bid) == data


async def test_empty_block(block_store: BlockStore) -> None:
    bid = block_id(b"")
    await block_store.put(bid, b"")
    assert await block_store.get(bid) == b""


async def test_ranged_get(block_store: BlockStore) -> None:
    data = bytes(range(256)) * 40
    bid = block_id(data)
    await block_store.put(bid, data)
    assert await block_store.get(bid, 0, 10) == data[0:10]
    assert await block_store.get(bid, 100, 356) == data[100:356]
    assert await block_store.get(bid, 5000) == data[5000:]
    assert await block_store.get(bid, len(data) - 1, len(data)) == data[-1:]
    assert await block_store.get(bid, 0, len(data)) == data
    assert await block_store.get(bid, 10, 10) == b""


async def test_put_is_idempotent(block_store: BlockStore) -> None:
    bid, data = blk(1)
    await block_store.put(bid, data)
    before = await block_store.stats()
    await block_store.put(bid, data)
    await block_store.put(bid, data)
    after = await block_store.stats()
    assert await block_store.get(bid) == data
    assert after.blocks == before.blocks == 1


async def test_concurrent_identical_puts(block_store: BlockStore) -> None:
    bid, data = blk(2, 50_000)
    await asyncio.gather(*(block_store.put(bid, data) for _ in range(50)))
    assert await block_store.get(bid) == data
    assert (await block_store.stats()).blocks == 1


async def test_get_missing_raises_not_found(block_store: BlockStore) -> None:
    with pytest.raises(BlockNotFound):
        await block_store.get(block_id(b"never stored"))
    with pytest.raises(BlockNotFound):
        await block_store.get(block_id(b"never stored"), 0, 5)


async def test_has_batch(block_store: BlockStore) -> None:
    stored = [blk(i) for i in range(5)]
    for bid, data in stored:
        await block_store.put(bid, data)
    missing = [blk(100 + i)[0] for i in range(3)]
    query = [stored[0][0], missing[0], stored[3][0], missing[1], stored[4][0], missing[2]]
    assert await block_store.has(query) == [True, False, True, False, True, False]
    assert await block_store.has([]) == []
    assert await block_store.has([stored[1][0], stored[1][0]]) == [True, True]


async def test_delete(block_store: BlockStore) -> None:
    (b1, d1), (b2, d2) = blk(1), blk(2)
    await block_store.put(b1, d1)
    await block_store.put(b2, d2)
    await block_store.delete(b1)
    with pytest.raises(BlockNotFound):
        await block_store.get(b1)
    assert await block_store.has([b1, b2]) == [False, True]
    assert await block_store.get(b2) == d2
    assert (await block_store.stats()).blocks == 1


async def test_delete_missing_is_harmless(block_store: BlockStore) -> None:
    await block_store.delete(block_id(b"absent"))
    assert (await block_store.stats()).blocks == 0


async def test_put_after_delete(block_store: BlockStore) -> None:
    bid, data = blk(3)
    await block_store.put(bid, data)
    await block_store.delete(bid)
    await block_store.put(bid, data)
    assert await block_store.get(bid) == data


async def test_list_ids_in_order_and_ranges(block_store: BlockStore) -> None:
    blocks = [blk(i, 100) for i in range(300)]
    for bid, data in blocks:
        await block_store.put(bid, data)
    ids = sorted(bid for bid, _ in blocks)
    lo, hi = b"\x00" * 32, b"\xff" * 33
    assert await block_store.list_ids(lo, hi, limit=10_000) == ids
    assert await block_store.list_ids(lo, hi, limit=10) == ids[:10]
    # one partition (first byte) is one key range
    for part in (0x00, 0x40, 0x80, 0xFF):
        start = bytes([part])
        end = bytes([part + 1]) if part < 0xFF else b"\xff" * 33
        assert await block_store.list_ids(start, end) == [i for i in ids if i[0] == part]
    # [start, end): start inclusive, end exclusive
    assert await block_store.list_ids(ids[10], ids[20]) == ids[10:20]
    # paging through with the last id + 1 byte covers everything once
    seen: list[bytes] = []
    start = lo
    while True:
        page = await block_store.list_ids(start, hi, limit=17)
        seen.extend(page)
        if len(page) < 17:
            break
        start = page[-1] + b"\x00"
    assert seen == ids
    assert await block_store.list_ids(ids[5], ids[5]) == []


async def test_stats_grow(block_store: BlockStore) -> None:
    s0 = await block_store.stats()
    assert s0.blocks == 0
    assert s0.capacity > 0
    for i in range(20):
        bid, data = blk(i, 64 << 10)
        await block_store.put(bid, data)
    s1 = await block_store.stats()
    assert s1.blocks == 20
    assert s1.used > s0.used
    assert s1.used >= 20 * (64 << 10)
    assert s1.capacity >= s1.used


async def test_put_with_wrong_id_is_refused(block_store: BlockStore) -> None:
    data = b"the real bytes" * 100
    wrong = block_id(b"something else")
    with pytest.raises(BlockCorrupt):
        await block_store.put(wrong, data)
    assert await block_store.has([wrong]) == [False]
    assert (await block_store.stats()).blocks == 0
    with pytest.raises(BlockNotFound):
        await block_store.get(wrong)


async def test_put_with_wrong_id_large_is_refused(block_store: BlockStore) -> None:
    data = os.urandom(1 << 20)
    wrong = block_id(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(BlockCorrupt):
        await block_store.put(wrong, data)
    assert await block_store.has([wrong]) == [False]


async def test_corrupted_block_is_never_served(block_factory) -> None:
    if not block_factory.supports_raw_corruption:
        pytest.skip("backend cannot be corrupted from the test")
    store = await block_factory.open()
    good_id, good = blk(1, 10_000)
    bad_id, bad = blk(2, 10_000)
    await store.put(good_id, good)
    await store.put(bad_id, bad)
    await store.close()

    flipped = bytearray(bad)
    flipped[5000] ^= 0x01
    block_factory.corrupt(bad_id, bytes(flipped))

    store = await block_factory.open()
    try:
        with pytest.raises(BlockCorrupt):
            await store.get(bad_id)
        with pytest.raises(BlockCorrupt):
            await store.get(bad_id, 0, 100)  # even a range away from the damage
        with pytest.raises(BlockCorrupt):
            await store.get(bad_id, 4990, 5010)
        assert await store.get(good_id) == good
    finally:
        await store.close()


async def test_truncated_block_is_never_served(block_factory) -> None:
    if not block_factory.supports_raw_corruption:
        pytest.skip("backend cannot be corrupted from the test")
    store = await block_factory.open()
    bid, data = blk(7, 10_000)
    await store.put(bid, data)
    await store.close()
    block_factory.corrupt(bid, data[:-1])
    store = await block_factory.open()
    try:
        with pytest.raises(BlockCorrupt):
            await store.get(bid, 0, 10)
    finally:
        await store.close()


async def test_capacity_refuses_with_full(block_factory) -> None:
    capacity = 2 << 20
    store = await block_factory.open(capacity=capacity)
    try:
        stored: list[tuple[bytes, bytes]] = []
        with pytest.raises(BlockStoreFull):
            for i in range(100):  # 100 x 256 KiB = 25 MiB >> 2 MiB
                bid, data = blk(i, 256 << 10)
                await store.put(bid, data)
                stored.append((bid, data))
        assert stored, "a store with room must accept a first block"
        st = await store.stats()
        assert st.capacity <= capacity
        assert st.blocks == len(stored)
        for bid, data in stored:  # what was accepted is intact
            assert await store.get(bid) == data
    finally:
        await store.close()


async def test_many_concurrent_puts_land_and_survive_reopen(block_factory) -> None:
    store = await block_factory.open()
    blocks = [blk(i, 4096 + i) for i in range(500)]
    await asyncio.gather(*(store.put(bid, data) for bid, data in blocks))
    assert (await store.stats()).blocks == 500
    await store.close()

    store = await block_factory.open()
    try:
        assert (await store.stats()).blocks == 500
        assert await store.has([bid for bid, _ in blocks]) == [True] * 500
        for bid, data in blocks:
            assert await store.get(bid) == data
    finally:
        await store.close()


async def test_concurrent_put_get_delete_mix(block_store: BlockStore) -> None:
    blocks = [blk(i, 2048) for i in range(200)]
    await asyncio.gather(*(block_store.put(b, d) for b, d in blocks[:100]))

    async def reader(b: bytes, d: bytes) -> None:
        assert await block_store.get(b) == d

    await asyncio.gather(
        *(block_store.put(b, d) for b, d in blocks[100:]),
        *(block_store.delete(b) for b, _ in blocks[:50]),
        *(reader(b, d) for b, d in blocks[50:100]),
    )
    assert await block_store.has([b for b, _ in blocks]) == [False] * 50 + [True] * 150


async def test_unverified_put_of_wrong_bytes_is_still_never_served(block_factory) -> None:
    """With put verification off (a trusted fast path), a mismatching block may be stored
    but a read still refuses it."""
    store = await block_factory.open(verify_puts=False)
    try:
        data = b"payload" * 500
        wrong = block_id(b"not the payload")
        try:
            await store.put(wrong, data)
        except BlockCorrupt:
            return  # refusing is also within the contract
        with pytest.raises(BlockCorrupt):
            await store.get(wrong)
    finally:
        await store.close()


async def test_capacity_holds_under_concurrent_puts(block_factory) -> None:
    """Concurrent puts must not overshoot the capacity together (check and write are one
    step, not a stats() read followed by a later write)."""
    capacity = 2 << 20
    size = 256 << 10
    store = await block_factory.open(capacity=capacity)
    try:
        blocks = [blk(i, size) for i in range(40)]  # 10 MiB offered to a 2 MiB store
        results = await asyncio.gather(
            *(store.put(b, d) for b, d in blocks), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert all(isinstance(e, BlockStoreFull) for e in errors), errors
        st = await store.stats()
        assert st.blocks * size <= capacity, (
            f"{st.blocks} blocks of {size} bytes stored in a store of capacity {capacity}"
        )
        assert errors, "10 MiB of puts into a 2 MiB store must be refused in part"
    finally:
        await store.close()


async def test_put_accepts_a_bytearray(block_store) -> None:
    """The gateway passes the bytearray it filled a block into: every store takes it."""
    data = bytearray(os.urandom(300_000))
    bid = block_id(bytes(data))
    await block_store.put(bid, data)
    assert await block_store.get(bid) == bytes(data)
