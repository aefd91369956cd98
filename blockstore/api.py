"""The block-store interface: immutable blocks addressed by the BLAKE3 hash of their bytes.

Implementations: blockstore.lmdb_store.LmdbBlockStore (in-process) and, for storage nodes,
a networked client. Both pass tests/contract/test_blockstore_contract.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

ALL_IDS_END = b"\xff" * 33  # after every 32-byte id


class BlockStoreError(Exception):
    pass


class BlockNotFound(BlockStoreError):
    pass


class BlockCorrupt(BlockStoreError):
    """The stored bytes do not hash to their id: never served, to be repaired."""


class BlockStoreFull(BlockStoreError):
    pass


class BlockStoreUnavailable(BlockStoreError):
    pass


@dataclass(frozen=True)
class StoreStats:
    capacity: int  # bytes this store may hold
    used: int  # bytes of block data stored
    blocks: int


class BlockStore(Protocol):
    async def put(
        self, block_id: bytes, data: bytes | bytearray | memoryview, crc: int | None = None
    ) -> None:
        """Store data under block_id; idempotent. The gateway hands over the buffer it
        filled (no extra copy), so implementations accept any bytes-like object and do not
        use it after returning. Refuses (BlockCorrupt) data that does not hash to block_id
        when the store verifies puts. ``crc`` is the CRC32C of data, computed by the caller
        in the same pass as block_id: a store that does not verify puts trusts the id only
        together with it (and refuses data that does not match it)."""
        ...

    async def get(
        self, block_id: bytes, start: int = 0, end: int | None = None
    ) -> bytes | memoryview:
        """The block's bytes [start:end] (bytes, or a read-only view the caller may hold as
        long as it likes); BlockNotFound or BlockCorrupt."""
        ...

    async def has(self, block_ids: list[bytes]) -> list[bool]: ...

    async def delete(self, block_id: bytes) -> None: ...

    async def list_ids(self, start: bytes, end: bytes, limit: int = 1000) -> list[bytes]:
        """Block ids in [start, end), in order: for repair and anti-entropy."""
        ...

    async def stats(self) -> StoreStats: ...

    async def close(self) -> None: ...


async def all_ids(store: BlockStore, page: int = 10_000) -> AsyncIterator[list[bytes]]:
    """Every block id the store holds, in order, a page at a time (repair, scrub). Only an
    empty page ends it: a store may skip keys that are not ids, so a short page does not."""
    start = b""
    while ids := await store.list_ids(start, ALL_IDS_END, page):
        yield ids
        start = ids[-1] + b"\0"
