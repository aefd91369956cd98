"""UploadPartCopy's bytes: a range of a stored version made into a part's blocks.

Blocks that lie wholly inside the range are shared (a reference, no bytes written); only
the partial blocks at its edges are written anew. Every byte is still read once, since the
part's ETag is their MD5.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.objects.body import StoredBody, one_piece
from meta.records import BlockRef

if TYPE_CHECKING:
    from gateway.objects.service import ObjectService


class RangeCopy:
    """UploadPartCopy's bytes: whole blocks inside the range are shared, edges rewritten."""

    def __init__(
        self,
        svc: ObjectService,
        start: int,
        end: int,
        also: Callable[[bytes | bytearray], None] | None,
    ) -> None:
        self.svc, self.start, self.end, self.also = svc, start, end, also
        self.md5 = hashlib.md5()
        self.blocks: list[BlockRef] = []
        self.observed: dict[bytes, bytes] = {}

    def digest(self, data: bytes | bytearray) -> None:
        self.md5.update(data)
        if self.also is not None:
            self.also(data)

    async def run(self, block_list: list[BlockRef]) -> StoredBody:
        start, end, svc = self.start, self.end, self.svc
        offset = 0
        for bid, size in block_list:
            b_start, b_end = offset, offset + size
            offset = b_end
            if b_end <= start or b_start >= end:
                continue
            if start <= b_start and b_end <= end:
                await self._share(bid, size)
                continue
            piece = await svc.blocks.get(bid, max(start - b_start, 0), min(end, b_end) - b_start)
            stored = await svc.store_body(one_piece(piece), inline=False)
            self.digest(piece)
            self.observed.update(stored.observed)
            self.blocks.extend(stored.blocks)
        return StoredBody(end - start, self.md5.digest(), None, self.blocks, self.observed)

    async def _share(self, bid: bytes, size: int) -> None:
        if bid not in self.observed:
            # Observed while the source still refers to the block, so it is stored now.
            self.observed[bid] = await self.svc.meta.observe_block(bid)
        await asyncio.to_thread(self.digest, await self.svc.blocks.get(bid))
        self.blocks.append((bid, size))
