"""How the LMDB block store verifies what it serves: a CRC32C stored with each block and
checked on every read (BLAKE3 when a block has no CRC), and the pooled buffers reads and
writes go through."""

from __future__ import annotations

import os
from pathlib import Path

import crc32c
import httpx
import lmdb
import pytest

from blockstore.address import block_id
from blockstore.api import BlockCorrupt
from blockstore.buffers import BufferPool
from blockstore.client import HttpBlockStore
from blockstore.lmdb_store import CRC_DB, LmdbBlockStore
from blockstore.server import CRC_HEADER


def _flip(path: Path, bid: bytes, at: int) -> None:
    env = lmdb.open(str(path), map_size=1 << 30, max_dbs=1)
    with env.begin(write=True) as txn:
        value = bytearray(txn.get(bid))
        value[at] ^= 0x01
        txn.put(bid, bytes(value))
    env.close()


def _stored_crc(path: Path, bid: bytes) -> bytes | None:
    env = lmdb.open(str(path), map_size=1 << 30, max_dbs=1)
    try:
        crcs = env.open_db(CRC_DB)
        with env.begin() as txn:
            return txn.get(bid, db=crcs)
    finally:
        env.close()


def _drop_crc(path: Path, bid: bytes) -> None:
    env = lmdb.open(str(path), map_size=1 << 30, max_dbs=1)
    crcs = env.open_db(CRC_DB)
    with env.begin(write=True) as txn:
        assert txn.delete(bid, db=crcs)
    env.close()


@pytest.mark.parametrize("size", [10_000, 4 << 20])
async def test_flipped_byte_in_a_crc_verified_block_is_never_served(
    tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    bid = block_id(data)
    store = LmdbBlockStore(tmp_path, map_size=1 << 30)
    await store.put(bid, data)
    await store.close()
    assert _stored_crc(tmp_path, bid) == crc32c.crc32c(data).to_bytes(4, "big")

    _flip(tmp_path, bid, size // 2)
    store = LmdbBlockStore(tmp_path, map_size=1 << 30)
    try:
        with pytest.raises(BlockCorrupt):
            await store.get(bid)
        with pytest.raises(BlockCorrupt):
            await store.get(bid, 0, 10)  # a range away from the damage too
    finally:
        await store.close()


async def test_block_without_crc_is_verified_with_its_hash(tmp_path: Path) -> None:
    """A block written before CRCs were kept: served after a BLAKE3 check, refused when its
    bytes changed."""
    good, bad = os.urandom(300_000), os.urandom(300_000)
    gid, bid = block_id(good), block_id(bad)
    store = LmdbBlockStore(tmp_path, map_size=1 << 30)
    await store.put(gid, good)
    await store.put(bid, bad)
    await store.close()
    _drop_crc(tmp_path, gid)
    _drop_crc(tmp_path, bid)
    _flip(tmp_path, bid, 7)
    store = LmdbBlockStore(tmp_path, map_size=1 << 30)
    try:
        assert await store.get(gid) == good
        assert await store.get(gid, 5, 50) == good[5:50]
        with pytest.raises(BlockCorrupt):
            await store.get(bid)
    finally:
        await store.close()


async def test_unverified_put_is_trusted_only_with_a_matching_crc(tmp_path: Path) -> None:
    """`cairn serve` stores blocks without re-hashing them: the gateway vouches with the
    CRC32C it computed with the id, and the store checks it against what it writes."""
    store = LmdbBlockStore(tmp_path, map_size=1 << 30, verify_puts=False)
    try:
        data = os.urandom(1 << 20)
        bid = block_id(data)
        await store.put(bid, data, crc32c.crc32c(data))
        assert await store.get(bid) == data

        other = os.urandom(1 << 20)
        oid = block_id(other)
        with pytest.raises(BlockCorrupt):  # the buffer changed after it was hashed
            await store.put(oid, other, crc32c.crc32c(data))
        assert await store.has([oid]) == [False]
    finally:
        await store.close()
    assert _stored_crc(tmp_path, bid) is not None


async def test_crc_database_is_not_a_block(tmp_path: Path) -> None:
    store = LmdbBlockStore(tmp_path, map_size=1 << 30)
    try:
        assert (await store.stats()).blocks == 0
        assert await store.list_ids(b"", b"\xff" * 33) == []
        data = os.urandom(1000)
        await store.put(block_id(data), data)
        assert (await store.stats()).blocks == 1
        assert await store.list_ids(b"", b"\xff" * 33) == [block_id(data)]
        await store.delete(block_id(data))
        assert (await store.stats()).blocks == 0
    finally:
        await store.close()
    assert _stored_crc(tmp_path, block_id(data)) is None  # deleted with its block


async def test_reads_are_read_only_views_that_keep_their_buffer(tmp_path: Path) -> None:
    store = LmdbBlockStore(tmp_path, map_size=1 << 30)
    try:
        a, b = os.urandom(4 << 20), os.urandom(4 << 20)
        await store.put(block_id(a), a)
        await store.put(block_id(b), b)
        got_a = await store.get(block_id(a))
        got_b = await store.get(block_id(b))  # a held: b must not land in a's buffer
        assert got_a == a and got_b == b
        with pytest.raises(TypeError):
            got_a[0] = 0  # type: ignore[index]
    finally:
        await store.close()


def test_buffer_pool_reuses_only_what_nobody_holds() -> None:
    pool = BufferPool(1 << 20, keep=2)
    first = pool.take(1 << 20)
    second = pool.take(1 << 19)
    assert first.obj is not second.obj and len(pool) == 2
    part = first[10:20]
    del first
    assert pool.idle() == 0  # a slice still holds the buffer
    del part
    assert pool.idle() == 1
    third = pool.take(900 << 10)
    assert len(third) == 900 << 10 and len(pool) == 2
    extra = pool.take(1 << 20)  # all held: a new buffer, not kept
    assert extra.obj is not third.obj and extra.obj is not second.obj and len(pool) == 2
    assert len(pool.take(1000)) == 1000  # small requests are not pooled
    del extra, second
    assert pool.shrink() == 1 and len(pool) == 1  # `second` is idle and goes; `third` stays
    assert pool.take(1 << 20).obj is not third.obj and len(pool) == 2  # refills on demand


def _node_answer(body: bytes, crc: str | None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {} if crc is None else {CRC_HEADER: crc}
        return httpx.Response(200, content=body, headers=headers)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("size", [1000, 1 << 20])
async def test_gateway_checks_the_crc_the_node_sent(size: int) -> None:
    data = os.urandom(size)
    bid = block_id(data)
    damaged = bytes([data[0] ^ 1]) + data[1:]
    cases = [
        (data, str(crc32c.crc32c(data)), None),
        (damaged, str(crc32c.crc32c(data)), BlockCorrupt),  # damaged on the way
        (data, None, None),  # an older node: no CRC, the hash is checked
        (damaged, None, BlockCorrupt),
    ]
    for body, crc, error in cases:
        store = HttpBlockStore("http://node.invalid", "secret")
        await store._client.aclose()
        store._client = httpx.AsyncClient(
            base_url="http://node.invalid", transport=_node_answer(body, crc)
        )
        try:
            if error is None:
                assert await store.get(bid) == data
            else:
                with pytest.raises(error):
                    await store.get(bid)
        finally:
            await store.close()


async def test_a_view_served_from_the_map_outlives_a_delete(tmp_path: Path) -> None:
    """A large read is served from LMDB's map without a copy, under a read transaction that
    lasts as long as the view: deleting the block and writing others over its pages does
    not change what the reader holds."""
    store = LmdbBlockStore(tmp_path, map_size=1 << 30)
    try:
        data = os.urandom(4 << 20)
        bid = block_id(data)
        await store.put(bid, data)
        view = await store.get(bid)
        part = await store.get(bid, 1 << 20, 3 << 20)
        assert store._leases == 2
        await store.delete(bid)
        for _ in range(4):
            other = os.urandom(4 << 20)
            await store.put(block_id(other), other)
        assert view == data and part == data[1 << 20 : 3 << 20]
        del view, part
        assert store._leases == 0
    finally:
        await store.close()
