"""Replicated blocks: write each block to the R nodes its partition is assigned to and
succeed at W acknowledgements; read from one replica and fail over to the next.

The layout (blockstore.cluster.placement.Layout) says where a block belongs. A node that is
down or full is placed around: the write goes to the next-ranked live node instead, and
reads look there too, so a client never sees an error while one replica of a block lives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from blockstore.api import (
    BlockCorrupt,
    BlockNotFound,
    BlockStore,
    BlockStoreError,
    BlockStoreUnavailable,
)
from blockstore.cluster.placement import Layout, NodeInfo, compute_layout, rank

log = logging.getLogger("cairn.blocks")


class ReplicatedBlocks:
    def __init__(
        self,
        stores: Mapping[str, BlockStore] | None = None,
        replicas: int = 1,
        write_quorum: int | None = None,
    ) -> None:
        self.stores: dict[str, BlockStore] = dict(stores or {})
        self.replicas = replicas
        self.write_quorum = write_quorum or replicas
        self.down: set[str] = set()
        self.weights: dict[str, float] = {}
        self.layout: Layout | None = None
        self.previous: Layout | None = None  # consulted by reads while partitions move
        # Set by Membership: fetch nodes and layout now. A worker that has not seen a layout
        # yet (just started, or the layout was just installed) asks instead of failing.
        self.refresh: Callable[[], Awaitable[None]] | None = None
        if self.stores:
            self.set_layout(compute_layout([NodeInfo(n) for n in sorted(self.stores)], replicas, 1))

    def set_layout(self, layout: Layout, previous: Layout | None = None) -> None:
        self.layout, self.previous = layout, previous

    def _live(self) -> list[NodeInfo]:
        return [NodeInfo(n, self.weights.get(n, 1.0)) for n in self.stores if n not in self.down]

    def placement(self, block_id: bytes) -> list[str]:
        return list(self.layout.nodes_of(block_id)) if self.layout else []

    def _read_order(self, block_id: bytes) -> list[str]:
        """Layout replicas (live first), the previous layout's, then every other node by
        rank: a block placed around a full or dead node is still found."""
        order: list[str] = []
        for n in self.placement(block_id) + (
            list(self.previous.nodes_of(block_id)) if self.previous else []
        ):
            if n in self.stores and n not in order:
                order.append(n)
        for n in rank(self._live(), block_id):
            if n.node_id not in order:
                order.append(n.node_id)
        return sorted(order, key=lambda n: n in self.down)

    async def put(
        self, block_id: bytes, data: bytes | bytearray | memoryview, crc: int | None = None
    ) -> None:
        """Succeed when W of the block's R layout replicas acknowledged it (design §4).
        ``crc``: the block's CRC32C, computed with its id (see BlockStore.put).

        A replica that is down or full is placed around: the block also goes to the next
        live node by rank, so R copies exist, but such a copy does not count towards W, so
        losing R-W+1 replicas of a partition makes its writes fail (503) rather than
        acknowledge data that lives on fewer layout replicas than promised."""
        await self._ensure_layout()
        targets = [n for n in self.placement(block_id) if n in self.stores]
        need = min(self.write_quorum, max(len(targets), 1))
        live = [n for n in targets if n not in self.down]
        acks, errors = await self._put_to(live, block_id, data, crc)
        if acks >= need and acks < len(targets):
            spare = [n.node_id for n in rank(self._live(), block_id) if n.node_id not in targets]
            extra = 0
            for node in spare:
                if acks + extra >= len(targets):
                    break
                more, _ = await self._put_to([node], block_id, data, crc)
                extra += more
        if acks < need:
            raise BlockStoreUnavailable(
                f"{acks} of {need} required replicas stored the block: {errors}"
            )

    async def _put_to(
        self,
        nodes: list[str],
        block_id: bytes,
        data: bytes | bytearray | memoryview,
        crc: int | None,
    ) -> tuple[int, list[str]]:
        results = await asyncio.gather(
            *(self.stores[n].put(block_id, data, crc) for n in nodes), return_exceptions=True
        )
        errors = [
            f"{n}: {r!r}"
            for n, r in zip(nodes, results, strict=True)
            if isinstance(r, BaseException)
        ]
        return len(nodes) - len(errors), errors

    async def _ensure_layout(self) -> None:
        if self.layout is None and self.refresh is not None:
            await self.refresh()

    async def get(
        self,
        block_id: bytes,
        start: int = 0,
        end: int | None = None,
        opened: Callable[[bytes | memoryview], Awaitable[memoryview]] | None = None,
    ) -> bytes | memoryview:
        """The bytes [start, end) of a block from the first replica that serves them.
        ``opened`` (an encrypted block's decryption) may refuse a replica's bytes by
        raising BlockCorrupt: then the next replica is read, as for a failed CRC."""
        await self._ensure_layout()
        last: BaseException = BlockNotFound(block_id.hex())
        for node in self._read_order(block_id):
            try:
                data = await self.stores[node].get(block_id, start, end)
                return data if opened is None else await opened(data)
            except BlockCorrupt as exc:
                log.warning(
                    "block %s is corrupt on %s: reading another replica", block_id.hex(), node
                )
                last = exc
            except (BlockNotFound, BlockStoreError, OSError) as exc:
                last = exc
        raise last

    async def delete(self, block_id: bytes) -> None:
        # Every reachable node, not only the layout's: a block may have been placed around
        # a dead node or under an older layout.
        nodes = [n for n in self.stores if n not in self.down]
        results = await asyncio.gather(
            *(self.stores[n].delete(block_id) for n in nodes), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise BlockStoreUnavailable(f"delete failed on {len(failed)} node(s)")

    async def close(self) -> None:
        for s in self.stores.values():
            await s.close()
