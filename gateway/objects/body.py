"""Cutting a request body into stored blocks: the hot loop of every large PUT.

Each block is hashed (BLAKE3 id, CRC32C, the running MD5 of the ETag) in a worker
thread and, while few PUTs are under way, written while the next block is read.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import crc32c
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from blockstore.address import block_id
from blockstore.buffers import BLOCK_BUFFERS
from blockstore.cluster.replicated import ReplicatedBlocks
from gateway.objects.crypt import seal_block
from meta.records import BlockRef
from meta.store import MetaStore

# Block bytes collect in a plain bytearray up to this size, then in a pooled block buffer.
SMALL_BLOCK = 256 << 10
# A PUT stores block n while it fills block n+1 only while at most this many bodies are
# being stored in this process: the overlap lets one upload use both cores, at the cost of
# a second block buffer. With more PUTs under way the cores are busy anyway, so each waits
# for its block to be stored before it fills the next, and holds one buffer, not two
# (aws s3 cp's 10 parts in flight: 40 MiB less at the peak).
OVERLAP_BODIES = 2


@dataclass
class StoredBody:
    size: int
    md5: bytes
    inline: bytes | None
    blocks: list[BlockRef]
    observed: dict[bytes, bytes]  # block id -> its reference record as read before the write


class BlockCutter:
    """One body on its way into blocks; nothing refers to them until a commit.

    A block's first bytes collect in ``small``; once it outgrows that it moves to a
    pooled block buffer (blockstore/buffers.py), which is filled in place and handed off
    as it is when full, so every byte is copied once and no fresh 4 MiB buffer has to be
    faulted in. A pooled buffer returns to the pool by itself once the hash and the store
    have let go of it. ``take`` is synchronous so that a body piece costs no coroutine;
    only a full block (``hand_off``) awaits.
    """

    def __init__(
        self,
        meta: MetaStore,
        blocks: ReplicatedBlocks,
        size: int,
        inline_max: int,
        busy: Callable[[], bool],
        cipher: AESGCM | None = None,
    ) -> None:
        self.meta = meta
        self.cipher = cipher  # an encrypted object's: blocks are stored sealed (crypt.py)
        self.store = blocks
        self.size = size
        self.small_max = min(size, SMALL_BLOCK)
        self.inline_max = inline_max
        self.busy = busy  # too many bodies under way to store one block while the next fills
        self.md5 = hashlib.md5()
        self.small = bytearray()
        self.big: memoryview | None = None
        self.fill = 0
        self.total = 0
        self.blocks: list[BlockRef] = []
        self.observed: dict[bytes, bytes] = {}
        self.pending: asyncio.Task[None] | None = None

    def take(self, view: memoryview) -> memoryview | None:
        """Copy what fits of view into the current block; what is left over, or None."""
        if self.big is None:
            after = self.fill + len(view)
            if after < self.small_max or (
                after < self.size
                and after <= self.inline_max
                and not self.blocks
                and self.pending is None
            ):
                self.small += view
                self.fill = after
                return None
            self._to_big()
        big = self.big
        assert big is not None
        take = min(self.size - self.fill, len(view))
        big[self.fill : self.fill + take] = view[:take]
        self.fill += take
        return view[take:] if take < len(view) else None

    def _to_big(self) -> None:
        big = BLOCK_BUFFERS.take(self.size) if self.size >= SMALL_BLOCK else None
        if big is None:  # tiny blocks (tests): plain buffers
            big = memoryview(bytearray(self.size))
        big[: self.fill] = self.small
        self.small = bytearray()
        self.big = big

    @property
    def full(self) -> bool:
        return self.fill == self.size

    async def hand_off(self) -> None:
        """Send the full block on its way; at most one in flight while the next fills."""
        if self.pending is not None:
            await self.pending  # one block in flight, one filling: bounded memory
        assert self.big is not None
        self.pending = asyncio.create_task(self._write(self.big))
        self.big, self.fill = None, 0
        if self.busy():
            await self.pending
            self.pending = None

    async def finish(self) -> StoredBody:
        """The last (short) block, or the whole body inline when it is small enough."""
        if self.pending is not None:
            await self.pending
            self.pending = None
        rest = self.small if self.big is None else self.big[: self.fill]
        if not self.blocks and self.fill <= self.inline_max:
            tail = bytes(rest)
            self.md5.update(tail)
            if self.cipher is not None:
                tail = bytes(await asyncio.to_thread(seal_block, self.cipher, tail))
            return StoredBody(self.total, self.md5.digest(), tail, [], {})
        if self.fill:
            await self._write(rest)
        return StoredBody(self.total, self.md5.digest(), None, self.blocks, self.observed)

    def cancel(self) -> None:
        if self.pending is not None and not self.pending.done():
            self.pending.cancel()

    async def _write(self, block: bytes | bytearray | memoryview) -> None:
        size = len(block)
        if self.cipher is not None:  # the stored bytes are the sealed block: its id too
            block, bid, crc = await asyncio.to_thread(_seal_block, self.md5, self.cipher, block)
        else:
            bid, crc = await asyncio.to_thread(_digest_block, self.md5, block)
        if bid not in self.observed:
            self.observed[bid] = await self.meta.observe_block(bid)
            await self.store.put(bid, block, crc)
        self.blocks.append((bid, size))  # the plaintext size: offsets are the object's


async def one_piece(
    data: bytes | bytearray | memoryview,
) -> AsyncIterator[bytes | bytearray | memoryview]:
    """A body of one piece already in memory (inline bytes, the edge of a copied range)."""
    yield data


def _digest_block(md5: hashlib._Hash, block: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    """ETag MD5 (running, over all blocks in order), the block's id (BLAKE3) and its CRC32C
    (what the block store checks on every read), in one thread hop."""
    md5.update(block)
    return block_id(block), crc32c.crc32c(block)


def _seal_block(
    md5: hashlib._Hash, cipher: AESGCM, block: bytes | bytearray | memoryview
) -> tuple[bytes, bytes, int]:
    """An encrypted object's block: the ETag MD5 over the plaintext, then the sealed bytes
    with their id and CRC32C, in one thread hop."""
    md5.update(block)
    sealed = seal_block(cipher, block)
    return sealed, block_id(sealed), crc32c.crc32c(sealed)
