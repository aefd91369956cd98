"""Replicated blocks: write each block to its R stores and succeed at W acknowledgements;
read from one replica and fail over to the next on error or corruption.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from blockstore.api import (
    BlockCorrupt,
    BlockNotFound,
    BlockStore,
    BlockStoreError,
    BlockStoreUnavailable,
)
from gateway.objects.placement import NodeInfo, nodes_for


class ReplicatedBlocks:
    def __init__(
        self,
        stores: Mapping[str, BlockStore],
        replicas: int = 1,
        write_quorum: int | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.stores = dict(stores)
        self.replicas = min(replicas, len(self.stores))
        self.write_quorum = write_quorum or self.replicas
        self.nodes = [NodeInfo(n, (weights or {}).get(n, 1.0)) for n in sorted(self.stores)]

    def placement(self, block_id: bytes) -> list[str]:
        return [n.node_id for n in nodes_for(self.nodes, block_id, self.replicas)]

    async def put(self, block_id: bytes, data: bytes) -> None:
        targets = self.placement(block_id)
        results = await asyncio.gather(
            *(self.stores[t].put(block_id, data) for t in targets), return_exceptions=True
        )
        acks = sum(1 for r in results if not isinstance(r, BaseException))
        if acks < self.write_quorum:
            errors = [r for r in results if isinstance(r, BaseException)]
            raise BlockStoreUnavailable(
                f"{acks}/{len(targets)} replicas stored the block: {errors}"
            )

    async def get(self, block_id: bytes, start: int = 0, end: int | None = None) -> bytes:
        last: BaseException = BlockNotFound(block_id.hex())
        for t in self.placement(block_id):
            try:
                return await self.stores[t].get(block_id, start, end)
            except (BlockNotFound, BlockCorrupt, BlockStoreError, OSError) as exc:
                last = exc
        raise last

    async def delete(self, block_id: bytes) -> None:
        # Every store, not only the current placement: a block may have been placed under
        # an older layout.
        await asyncio.gather(*(s.delete(block_id) for s in self.stores.values()))

    async def close(self) -> None:
        for s in self.stores.values():
            await s.close()
