"""The object service: where S3 requests become blocks and metadata transactions.

It knows nothing of HTTP or S3 wire formats. A PUT streams the body into fixed-size
blocks (each hashed with BLAKE3 off the event loop, and, while few PUTs are under way,
written while the next block is read), then commits the object head in one metadata
transaction: before the commit nothing is visible, after it the object is readable and
listed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

import crc32c

from blockstore.address import block_id
from blockstore.buffers import BLOCK_BUFFERS
from blockstore.cluster.replicated import ReplicatedBlocks
from meta.records import BlockRef, ObjectHead
from meta.store import Condition, MetaStore, ObjectNotFound

DEFAULT_BLOCK_SIZE = 4 << 20
DEFAULT_INLINE_MAX = 64 << 10
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
    observed: dict[bytes, bytes]


class ObjectService:
    def __init__(
        self,
        meta: MetaStore,
        blocks: ReplicatedBlocks,
        block_size: int = DEFAULT_BLOCK_SIZE,
        inline_max: int = DEFAULT_INLINE_MAX,
    ) -> None:
        self.meta = meta
        self.blocks = blocks
        self.block_size = block_size
        self.inline_max = inline_max
        self.bodies_running = 0  # store_body calls under way
        self.bodies_started = 0

    # ------------------------------------------------------------------ write

    async def store_body(self, body: AsyncIterable[bytes], *, inline: bool = True) -> StoredBody:
        """Cut body into blocks and store them; nothing refers to them until a commit.

        ``inline=False`` (multipart parts) always makes blocks, since a completed object
        is the concatenation of its parts' block lists."""
        inline_max = self.inline_max if inline else -1
        size = self.block_size
        md5 = hashlib.md5()
        # A block's first bytes collect in `small`; once it outgrows that it moves to a
        # pooled block buffer (blockstore/buffers.py), which is filled in place and handed
        # off as it is when full, so every byte is copied once and no fresh 4 MiB buffer
        # has to be faulted in. A pooled buffer returns to the pool by itself once the
        # hash and the store have let go of it.
        small = bytearray()
        big: memoryview | None = None
        fill = 0
        blocks: list[BlockRef] = []
        observed: dict[bytes, bytes] = {}
        pending: asyncio.Task[None] | None = None
        total = 0
        self.bodies_running += 1
        self.bodies_started += 1

        async def write(block: bytes | bytearray | memoryview) -> None:
            bid, crc = await asyncio.to_thread(_digest_block, md5, block)
            if bid not in observed:
                observed[bid] = await self.meta.observe_block(bid)
                await self.blocks.put(bid, block, crc)
            blocks.append((bid, len(block)))

        try:
            async for piece in body:
                total += len(piece)
                view = memoryview(piece)
                while view:
                    if big is None:
                        after = fill + len(view)
                        if after < min(size, SMALL_BLOCK) or (
                            after < size and after <= inline_max and not blocks and not pending
                        ):
                            small += view
                            fill += len(view)
                            break
                        big = BLOCK_BUFFERS.take(size) if size >= SMALL_BLOCK else None
                        if big is None:  # tiny blocks (tests): plain buffers
                            big = memoryview(bytearray(size))
                        big[:fill] = small
                        small = bytearray()
                    take = min(size - fill, len(view))
                    big[fill : fill + take] = view[:take]
                    fill += take
                    view = view[take:]
                    if fill == size:
                        if pending is not None:
                            await pending  # one block in flight, one filling: bounded memory
                        pending = asyncio.create_task(write(big))
                        big, fill = None, 0
                        if self.bodies_running > OVERLAP_BODIES:
                            await pending
                            pending = None
            if pending is not None:
                await pending
                pending = None
            rest = small if big is None else big[:fill]
            if not blocks and fill <= inline_max:
                tail = bytes(rest)
                md5.update(tail)
                return StoredBody(total, md5.digest(), tail, [], {})
            if fill:
                await write(rest)
            return StoredBody(total, md5.digest(), None, blocks, observed)
        finally:
            self.bodies_running -= 1
            if pending is not None and not pending.done():
                pending.cancel()

    async def put_object(
        self,
        bucket: str,
        head: ObjectHead,
        body: AsyncIterable[bytes],
        *,
        before_commit: Callable[[ObjectHead], None] | None = None,
        condition: Condition | None = None,
    ) -> ObjectHead:
        """Store body and commit head (size, etag, blocks filled in here).

        ``before_commit`` sees the finished head and may raise (a wrong Content-MD5 or
        checksum): then nothing becomes visible and the blocks are left for GC.
        """
        if condition is not None:  # fail fast before reading the body; re-checked at commit
            await self._precheck(bucket, head.key, condition)
        stored = await self.store_body(body)
        head.size = stored.size
        head.etag = stored.md5.hex()
        head.inline = stored.inline
        head.blocks = stored.blocks if stored.inline is None else None
        if before_commit is not None:
            before_commit(head)
        await self.meta.put_object(bucket, head, stored.observed, condition)
        return head

    async def _precheck(self, bucket: str, key: str, condition: Condition) -> None:
        try:
            current: ObjectHead | None = await self.meta.get_object(bucket, key)
        except ObjectNotFound:
            current = None
        condition(current)

    async def copy_object(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        new_head: Callable[[ObjectHead], ObjectHead],
        *,
        source_condition: Condition | None = None,
        condition: Condition | None = None,
    ) -> tuple[ObjectHead, ObjectHead]:
        """Copy by reference: the new version shares the source's blocks, no bytes move."""
        src, src_raw = await self.meta.get_object_raw(src_bucket, src_key)
        if source_condition is not None:
            source_condition(src)
        head = new_head(src)
        head.size, head.etag, head.inline = src.size, src.etag, src.inline
        head.parts = src.parts
        head.blocks = list(await self.meta.block_list(src)) if src.inline is None else None
        await self.meta.put_object(
            dst_bucket, head, {}, condition, source=(src_bucket, src_key, src_raw)
        )
        return src, head

    async def store_range(
        self,
        src: ObjectHead,
        start: int,
        end: int,
        also: Callable[[bytes | bytearray], None] | None = None,
    ) -> StoredBody:
        """The bytes [start, end) of src as a part: blocks that lie wholly inside the range
        are shared, only the partial blocks at its edges are written anew. The bytes are
        still read, since the part's ETag is their MD5; ``also`` sees them in the same pass
        (the part's checksum), so they are read once."""
        if src.inline is not None:
            if also is not None:
                also(src.inline[start:end])
            return await self.store_body(_one(src.inline[start:end]), inline=False)
        md5 = hashlib.md5()

        def digest(data: bytes | bytearray) -> None:
            md5.update(data)
            if also is not None:
                also(data)

        blocks: list[BlockRef] = []
        observed: dict[bytes, bytes] = {}
        offset = 0
        for bid, size in await self.meta.block_list(src):
            b_start, b_end = offset, offset + size
            offset = b_end
            if b_end <= start or b_start >= end:
                continue
            if start <= b_start and b_end <= end:
                if bid not in observed:
                    # Observed while src still refers to the block, so it is stored now.
                    observed[bid] = await self.meta.observe_block(bid)
                await asyncio.to_thread(digest, await self.blocks.get(bid))
                blocks.append((bid, size))
                continue
            piece = await self.blocks.get(bid, max(start - b_start, 0), min(end, b_end) - b_start)
            stored = await self.store_body(_one(piece), inline=False)
            digest(piece)
            observed.update(stored.observed)
            blocks.extend(stored.blocks)
        return StoredBody(end - start, md5.digest(), None, blocks, observed)

    # ------------------------------------------------------------------- read

    async def read(
        self, head: ObjectHead, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes [start, end) of a version; the next block is fetched while one is sent."""
        end = head.size if end is None else min(end, head.size)
        if start >= end:
            return
        if head.inline is not None:
            yield head.inline[start:end]
            return
        wanted: list[tuple[bytes, int, int]] = []
        offset = 0
        for bid, size in await self.meta.block_list(head):
            b_start, b_end = offset, offset + size
            offset = b_end
            if b_end <= start:
                continue
            if b_start >= end:
                break
            wanted.append((bid, max(start - b_start, 0), min(end, b_end) - b_start))
        nxt: asyncio.Task[bytes | memoryview] | None = None
        try:
            for i, (bid, s, e) in enumerate(wanted):
                cur = nxt if nxt is not None else asyncio.ensure_future(self.blocks.get(bid, s, e))
                nxt = None
                if i + 1 < len(wanted):
                    nb, ns, ne = wanted[i + 1]
                    nxt = asyncio.ensure_future(self.blocks.get(nb, ns, ne))
                data = await cur
                del cur  # the block's buffer goes back to the pool once the socket sent it
                yield data
                del data
        finally:
            if nxt is not None:
                nxt.cancel()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _digest_block(md5: hashlib._Hash, block: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    """ETag MD5 (running, over all blocks in order), the block's id (BLAKE3) and its CRC32C
    (what the block store checks on every read), in one thread hop."""
    md5.update(block)
    return block_id(block), crc32c.crc32c(block)
