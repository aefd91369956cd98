"""Block reference records: how GC and deduplicating writes agree on which blocks live.

    C<block id>          RefCount: how many committed versions refer to the block, + nonce
    G<due><block id>     GC queue entry, carrying the record it was queued for

A writer observes a block's record before writing the block and its commit compares that
value; GC claims a record (count = DELETING, compare-and-swap) before deleting the bytes.
Every write changes the nonce, so the two can never both succeed on the same state: see
docs/architecture.md, "Writes, visibility and GC". Everything that reads or changes these
records is here, below meta.journal and meta.store, which both adjust counts.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from meta import keys
from meta.api import KV, Txn, TxnConflict
from meta.errors import BlockVanished
from meta.records import DELETING, RefCount, now_ms


class BlockRefs:
    def __init__(self, kv: KV, gc_grace_ms: int, upload_grace_ms: int) -> None:
        self.kv = kv
        self.gc_grace_ms = gc_grace_ms
        # How long a block written by an upload still in flight is safe from GC: the
        # upload commits within this time or fails cleanly (503) and retries.
        self.upload_grace_ms = upload_grace_ms

    async def observe_block(self, block_id: bytes) -> bytes:
        """The block's reference record, read (or created) before the block is written.

        The commit later compares against exactly this value, and every write to the
        record changes its nonce: if GC claimed the block in between, the compare fails
        instead of committing a reference to deleted bytes. A block with no record gets a
        zero-count one, queued for GC: so the value observed is never "absent" (which
        could come back after a GC cycle), and a block whose upload fails is collected.
        Waits while GC is deleting the block, since its bytes are about to go.
        """
        ckey = keys.refcount_key(block_id)
        for _ in range(500):
            raw = await self.kv.get(ckey)
            if raw is None:
                rec = RefCount.new(0).to_bytes()
                due = keys.u64(now_ms() + self.upload_grace_ms)
                txn = (
                    Txn().expect(ckey, None).put(ckey, rec).put(keys.GCQUEUE + due + block_id, rec)
                )
                try:
                    await self.kv.commit(txn)
                    return rec
                except TxnConflict:
                    continue
            if RefCount.from_bytes(raw).count != DELETING:
                return raw
            await asyncio.sleep(0.01)
        raise BlockVanished(block_id.hex())

    async def apply_refcounts(
        self, txn: Txn, delta: Counter[bytes], observed: dict[bytes, bytes]
    ) -> None:
        due = keys.u64(now_ms() + self.gc_grace_ms)
        for block_id, d in delta.items():
            if d == 0:
                continue
            ckey = keys.refcount_key(block_id)
            raw = observed[block_id] if block_id in observed else await self.kv.get(ckey)
            count = RefCount.from_bytes(raw).count if raw is not None else 0
            if count == DELETING:  # only reachable for blocks we drop, never for new ones
                count = 0
            txn.expect(ckey, raw)
            new = RefCount.new(max(count + d, 0)).to_bytes()
            txn.put(ckey, new)
            if count + d <= 0:
                # The entry carries the record it was queued for: GC acts on it only if the
                # block has not been referenced (and released) again since.
                txn.put(keys.GCQUEUE + due + block_id, new)

    async def refresh_observed(self, observed: dict[bytes, bytes]) -> None:
        """After a conflict: a block whose record still exists is still stored; one whose
        record vanished or is being deleted may be gone, and the upload must be redone."""
        for block_id, raw in list(observed.items()):
            cur = await self.kv.get(keys.refcount_key(block_id))
            if cur == raw:
                continue
            if cur is None or RefCount.from_bytes(cur).count in (DELETING, 0):
                # Gone, going, or unreferenced: a zero-count record that changed may be a
                # new one, made by an observer that has not yet written the block GC took.
                raise BlockVanished(block_id.hex())
            observed[block_id] = cur

    async def gc_due(self, limit: int = 1000) -> list[tuple[bytes, bytes, bytes]]:
        """GC queue entries whose grace period is over: (queue key, block id, record)."""
        end = keys.GCQUEUE + keys.u64(now_ms() + 1)
        rows = await self.kv.scan(keys.GCQUEUE, end, limit=limit)
        return [(k, k[len(keys.GCQUEUE) + 8 :], v) for k, v in rows]

    async def gc_claim(self, qkey: bytes, block_id: bytes, queued: bytes) -> bytes | None:
        """Claim an unreferenced block for deletion; return the claim to finish with.

        Only the record the entry was queued for is claimed: if the block was referenced
        again since (even if released again later, with its own, later entry), this entry
        is stale and is dropped, so the grace period counts from the last release.
        """
        ckey = keys.refcount_key(block_id)
        raw = await self.kv.get(ckey)
        if raw is not None and RefCount.from_bytes(raw).count == DELETING:
            return raw  # a previous run crashed mid-delete: finish it
        if raw is not None and raw == queued:
            claim = RefCount.new(DELETING).to_bytes()
            try:
                await self.kv.commit(Txn().expect(ckey, raw).put(ckey, claim))
                return claim
            except TxnConflict:
                pass  # changed under us: this entry is stale
        await self.kv.commit(Txn().delete(qkey))
        return None

    async def gc_finish(self, qkey: bytes, block_id: bytes, claim: bytes) -> None:
        ckey = keys.refcount_key(block_id)
        await self.kv.commit(Txn().expect(ckey, claim).delete(ckey).delete(qkey))

    async def refcount(self, block_id: bytes) -> int:
        raw = await self.kv.get(keys.refcount_key(block_id))
        return RefCount.from_bytes(raw).count if raw is not None else 0

    async def queue_unknown(self, block_id: bytes) -> bool:
        """Queue for GC a block a node holds although no record names it (GC deleted it
        while that node was unreachable, and dropped the record); True if it did. The
        record made is a writer's zero-count one, so GC takes the block under its claim,
        never while a PUT that deduplicates onto it is in flight."""
        if await self.kv.get(keys.refcount_key(block_id)) is not None:
            return False
        await self.observe_block(block_id)
        return True

    async def block_known(self, block_id: bytes) -> bool:
        """Whether metadata still knows the block: it has a reference record that GC has
        not claimed. Repair copies only such blocks, so it never resurrects garbage."""
        raw = await self.kv.get(keys.refcount_key(block_id))
        return raw is not None and RefCount.from_bytes(raw).count != DELETING
