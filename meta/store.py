"""The metadata record layer: buckets, object heads, block lists and block references.

Written once against the KV interface (meta.api), so LMDB and etcd behave the same.
Every change that spans records is one guarded transaction; a conflict means somebody
else changed a guarded record, and the operation re-reads and tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from meta import journal, keys
from meta.api import KV, MetaError, Txn, TxnConflict
from meta.records import (
    DELETING,
    BlockRef,
    BucketRecord,
    ObjectHead,
    ObjectSummary,
    RefCount,
    now_ms,
    pack_page,
    unpack_page,
)

PAGE_BLOCKS = 1024  # block-list entries per page record (~45 KiB)
INLINE_BLOCKS = 256  # up to this many blocks live in the head itself (~11 KiB)
# What a commit transaction may carry beside the head: more is staged or released in
# batches (meta.journal), so every transaction fits etcd's default limits.
BATCH_IN_COMMIT = journal.BATCH
PAGES_IN_COMMIT = 4
MAX_RETRIES = 64
BUCKET_CACHE_SECONDS = 5.0


class BucketExists(MetaError):
    pass


class BucketNotFound(MetaError):
    pass


class BucketNotEmpty(MetaError):
    pass


class ObjectNotFound(MetaError):
    pass


class ConditionFailed(MetaError):
    """A conditional write's precondition (If-Match / If-None-Match) did not hold."""


class BlockVanished(MetaError):
    """A deduplicated block was collected while this upload was in flight: retry the upload."""


log = logging.getLogger("cairn.meta")

Condition = Callable[[ObjectHead | None], None]
"""Checks the current head before a write; raises ConditionFailed to refuse it."""

Extra = Callable[[Txn], Awaitable["Counter[bytes]"]]
"""Adds a write's other records to its transaction (e.g. the parts a multipart completion
consumes) and returns their block-reference changes. Called afresh on every attempt."""


@dataclass
class ListEntry:
    key: str
    head: ObjectSummary | None = None  # None for a common prefix


class MetaStore:
    def __init__(
        self, kv: KV, gc_grace_ms: int = 3_600_000, upload_grace_ms: int | None = None
    ) -> None:
        self.kv = kv
        self.gc_grace_ms = gc_grace_ms
        # How long a block written by an upload still in flight is safe from GC: the
        # upload commits within this time or fails cleanly (503) and retries.
        self.upload_grace_ms = max(
            gc_grace_ms, 3_600_000 if upload_grace_ms is None else upload_grace_ms
        )
        self.journal = journal.Journal(self)
        self._buckets: dict[str, tuple[bytes, float]] = {}

    # ----------------------------------------------------------------- buckets

    async def create_bucket(self, name: str, region: str) -> None:
        rec = BucketRecord(name, now_ms(), region)
        try:
            await self.kv.commit(
                Txn().expect(keys.bucket_key(name), None).put(keys.bucket_key(name), rec.to_bytes())
            )
        except TxnConflict:
            raise BucketExists(name) from None

    async def get_bucket(self, name: str) -> BucketRecord | None:
        raw = await self.kv.get(keys.bucket_key(name))
        if raw is None:
            return None
        rec = BucketRecord.from_bytes(raw)
        return rec if rec.state == "active" else None

    async def list_buckets(self) -> list[BucketRecord]:
        rows = await self.kv.scan(keys.BUCKET, keys.prefix_end(keys.BUCKET), limit=100_000)
        recs = [BucketRecord.from_bytes(v) for _, v in rows]
        return [r for r in recs if r.state == "active"]

    async def delete_bucket(self, name: str) -> None:
        """Mark, check empty, then remove: a concurrent PUT's commit compares the bucket record."""
        bkey = keys.bucket_key(name)
        raw = await self.kv.get(bkey)
        if raw is None:
            raise BucketNotFound(name)
        rec = BucketRecord.from_bytes(raw)
        rec.state = "deleting"
        marked = rec.to_bytes()
        try:
            await self.kv.commit(Txn().expect(bkey, raw).put(bkey, marked))
        except TxnConflict:
            raise BucketNotFound(name) from None
        prefix = keys.object_prefix(name)
        upload_prefix = keys.UPLOAD + name.encode() + b"\0"
        if await self.kv.scan(prefix, keys.prefix_end(prefix), limit=1) or await self.kv.scan(
            upload_prefix, keys.prefix_end(upload_prefix), limit=1
        ):
            rec.state = "active"
            await self.kv.commit(Txn().expect(bkey, marked).put(bkey, rec.to_bytes()))
            raise BucketNotEmpty(name)
        await self.kv.commit(Txn().expect(bkey, marked).delete(bkey))

    async def bucket_raw(self, name: str, *, cached: bool = False) -> bytes:
        """The raw active bucket record, to guard a write against a concurrent DeleteBucket.

        ``cached``: a value read in the last few seconds will do, because the caller's
        commit compares it: if the bucket changed since, the commit fails, and the retry
        reads afresh (``forget_bucket``). It saves a metadata round trip per PUT, which on
        etcd is a linearizable read through the leader."""
        if cached:
            hit = self._buckets.get(name)
            if hit is not None and hit[1] > time.monotonic():
                return hit[0]
        raw = await self._bucket_raw(name)
        self._buckets[name] = (raw, time.monotonic() + BUCKET_CACHE_SECONDS)
        if len(self._buckets) > 10_000:
            self._buckets.clear()
        return raw

    def forget_bucket(self, name: str) -> None:
        self._buckets.pop(name, None)

    async def _bucket_raw(self, name: str) -> bytes:
        for _ in range(50):
            raw = await self.kv.get(keys.bucket_key(name))
            if raw is None:
                raise BucketNotFound(name)
            if BucketRecord.from_bytes(raw).state == "active":
                return raw
            await asyncio.sleep(0.01)  # a DeleteBucket is checking emptiness: wait for it
        raise BucketNotFound(name)

    # ----------------------------------------------------------------- objects

    def codec(self, bucket: str) -> keys.KeyCodec:
        return keys.KeyCodec(keys.object_prefix(bucket), self.kv.max_key_size)

    async def _head_raw(self, bucket: str, key: str) -> tuple[bytes, bytes | None]:
        okey = self.codec(bucket).encode(key.encode())
        return okey, await self.kv.get(okey)

    async def get_object(self, bucket: str, key: str) -> ObjectHead:
        return (await self.get_object_raw(bucket, key))[0]

    async def get_object_raw(self, bucket: str, key: str) -> tuple[ObjectHead, bytes]:
        """The head and its stored bytes, for a later commit that must compare against it."""
        _, raw = await self._head_raw(bucket, key)
        if raw is None:
            if await self.get_bucket(bucket) is None:
                raise BucketNotFound(bucket)
            raise ObjectNotFound(key)
        return ObjectHead.from_bytes(raw), raw

    async def block_list(self, head: ObjectHead) -> list[BlockRef]:
        if head.blocks is not None:
            return head.blocks
        out: list[BlockRef] = []
        start = keys.PAGE + head.version
        for _, raw in await self.kv.scan(start, keys.prefix_end(start), limit=head.pages):
            out.extend(unpack_page(raw))
        return out

    async def block_page(self, head: ObjectHead, page: int) -> list[BlockRef]:
        """One page of a large object's block list, so a ranged read loads only what it needs."""
        if head.blocks is not None:
            return head.blocks[page * PAGE_BLOCKS : (page + 1) * PAGE_BLOCKS]
        raw = await self.kv.get(keys.PAGE + head.version + keys.u32(page))
        return unpack_page(raw) if raw else []

    async def observe_block(self, block_id: bytes) -> bytes:
        """The block's reference record, read (or created) before the block is written.

        The commit later compares against exactly this value, and every write to the
        record changes its nonce: if GC claimed the block in between, the compare fails
        instead of committing a reference to deleted bytes. A block with no record gets a
        zero-count one, queued for GC: so the value observed is never "absent" (which
        could come back after a GC cycle), and a block whose upload fails is collected.
        Waits while GC is deleting the block, since its bytes are about to go.
        """
        ckey = keys.REFCOUNT + block_id
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

    async def put_object(
        self,
        bucket: str,
        head: ObjectHead,
        observed: dict[bytes, bytes],
        condition: Condition | None = None,
        source: tuple[str, str, bytes] | None = None,
        extra: Extra | None = None,
        *,
        moved: bool = False,
    ) -> ObjectHead | None:
        """Commit head as the current version of its key; return the version it replaced.

        ``observed`` maps each block id of ``head`` to its reference record as read by
        observe_block before the block was written. ``source`` (bucket, key, raw head)
        guards a copy: the source must still be the same version when the copy commits.
        ``moved``: head's references are already held, by records that ``extra`` hands
        over to it (a multipart completion takes its parts' references).

        The commit is one small transaction. References and block-list pages that would
        not fit in it are staged before it and the replaced version is released after it
        (meta.journal), so its size does not grow with the object.
        """
        blocks = head.blocks or []
        if head.blocks is None and head.pages:  # already paged by the caller
            raise ValueError("put_object takes the block list in head.blocks")
        new_pages: list[tuple[bytes, bytes]] = []
        if len(blocks) > INLINE_BLOCKS:
            head.blocks = None
            head.pages = (len(blocks) + PAGE_BLOCKS - 1) // PAGE_BLOCKS
            for i in range(head.pages):
                page = blocks[i * PAGE_BLOCKS : (i + 1) * PAGE_BLOCKS]
                new_pages.append((keys.PAGE + head.version + keys.u32(i), pack_page(page)))
        taken: Counter[bytes] = Counter() if moved else Counter(h for h, _ in blocks)
        observed = dict(observed)
        stage: tuple[bytes, bytes] | None = None
        if len(taken) > journal.BATCH or len(new_pages) > PAGES_IN_COMMIT:
            stage = await self.journal.stage(head.version, taken, observed, head.version, new_pages)
            taken, new_pages = Counter(), []
        committed = False
        try:
            for attempt in range(MAX_RETRIES):
                braw = await self.bucket_raw(bucket, cached=attempt == 0)
                okey, old_raw = await self._head_raw(bucket, head.key)
                old = ObjectHead.from_bytes(old_raw) if old_raw is not None else None
                if condition is not None:
                    condition(old)
                txn = Txn().expect(keys.bucket_key(bucket), braw).expect(okey, old_raw)
                if source is not None:
                    skey = self.codec(source[0]).encode(source[1].encode())
                    txn.expect(skey, source[2])
                txn.put(okey, head.to_bytes())
                if stage is not None:
                    txn.expect(stage[0], stage[1]).delete(stage[0])
                for k, v in new_pages:
                    txn.put(k, v)
                delta = Counter(taken)
                release = self._release(txn, old, delta) if old is not None else None
                if extra is not None:
                    delta.update(await extra(txn))
                await self.apply_refcounts(txn, delta, observed)
                try:
                    await self.kv.commit(txn)
                except TxnConflict:
                    self.forget_bucket(bucket)
                    if stage is None:
                        await self.refresh_observed(observed)
                    elif await self.kv.get(stage[0]) != stage[1]:
                        raise journal.StageLost(stage[0].hex()) from None
                    continue
                committed = True
                if release is not None:
                    await self.finish(release)
                return old
            raise MetaError("too many conflicting writers")
        finally:
            if stage is not None and not committed:
                await self.journal.abandon(stage[0])

    def _release(self, txn: Txn, old: ObjectHead, delta: Counter[bytes]) -> bytes | None:
        """Drop the replaced version's references (see drop_refs)."""
        if old.blocks is None and not old.pages:
            return None  # inline data: no references
        ids = [h for h, _ in old.blocks] if old.blocks is not None else None
        return self.drop_refs(txn, delta, ids, old.version, old.pages)

    @staticmethod
    def drop_refs(
        txn: Txn,
        delta: Counter[bytes],
        ids: list[bytes] | None,
        version: bytes | None = None,
        pages: int = 0,
    ) -> bytes | None:
        """Drop references (``ids``, or the ``pages`` block-list pages of ``version``) in txn
        when they fit beside delta; otherwise write a release record and return its key, to
        be finished after the commit (meta.journal)."""
        if ids is not None and len(set(delta) | set(ids)) <= BATCH_IN_COMMIT:
            delta.subtract(ids)
            return None
        rkey = journal.RELEASE + (version or journal.new_id())
        txn.put(rkey, journal.release_record(ids, version, pages))
        return rkey

    async def finish(self, jkey: bytes) -> None:
        """Work through a release right after its commit; what fails here (the metadata
        store is unreachable, the process dies) housekeeping finishes later."""
        try:
            await self.journal.process(jkey)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the commit stands; housekeeping retries
            log.warning("release %s left to housekeeping", jkey.hex(), exc_info=True)

    async def delete_object(
        self, bucket: str, key: str, condition: Condition | None = None
    ) -> ObjectHead | None:
        for _ in range(MAX_RETRIES):
            okey, old_raw = await self._head_raw(bucket, key)
            if old_raw is None:
                if await self.get_bucket(bucket) is None:
                    raise BucketNotFound(bucket)
                return None
            old = ObjectHead.from_bytes(old_raw)
            if condition is not None:
                condition(old)
            txn = Txn().expect(okey, old_raw).delete(okey)
            delta: Counter[bytes] = Counter()
            release = self._release(txn, old, delta)
            await self.apply_refcounts(txn, delta, {})
            try:
                await self.kv.commit(txn)
            except TxnConflict:
                continue
            if release is not None:
                await self.finish(release)
            return old
        raise MetaError("too many conflicting writers")

    async def apply_refcounts(
        self, txn: Txn, delta: Counter[bytes], observed: dict[bytes, bytes]
    ) -> None:
        due = keys.u64(now_ms() + self.gc_grace_ms)
        for block_id, d in delta.items():
            if d == 0:
                continue
            ckey = keys.REFCOUNT + block_id
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
            cur = await self.kv.get(keys.REFCOUNT + block_id)
            if cur == raw:
                continue
            if cur is None or RefCount.from_bytes(cur).count in (DELETING, 0):
                # Gone, going, or unreferenced: a zero-count record that changed may be a
                # new one, made by an observer that has not yet written the block GC took.
                raise BlockVanished(block_id.hex())
            observed[block_id] = cur

    # ----------------------------------------------------------------- listing

    async def scan_objects(
        self, bucket: str, start: bytes, exclusive: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        """Up to limit (object key, raw head) pairs in S3 key order, from start onwards."""
        codec = self.codec(bucket)
        pos = codec.seek(start)
        end = codec.end
        out: list[tuple[bytes, bytes]] = []
        plen = len(codec.prefix)
        while len(out) < limit:
            rows = await self.kv.scan(pos, end, limit=limit - len(out) + 1)
            if not rows:
                break
            for bkey, raw in rows:
                if codec.is_grouped(bkey):
                    gstart, gend = codec.group_range(bkey)
                    group = await self.kv.scan(gstart, gend, limit=10_000_000)
                    members = sorted((ObjectHead.from_bytes(v).key.encode(), v) for _, v in group)
                    out.extend(
                        (k, v) for k, v in members if k > start or (k == start and not exclusive)
                    )
                    pos = gend
                    break
                k = bkey[plen:]
                if k > start or (k == start and not exclusive):
                    out.append((k, raw))
                pos = bkey + b"\0"
                if len(out) >= limit:
                    break
            else:
                if len(rows) < limit:  # short read: reached the end of the bucket
                    break
        return out[:limit]

    async def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        after: str | None = None,
        limit: int = 1000,
    ) -> tuple[list[ListEntry], bool]:
        """One page of a listing: entries (objects and common prefixes) and is_truncated.

        A common prefix costs one seek past all of its keys, so a page costs time in
        proportion to its size, not to the bucket. ``after`` is exclusive; a common
        prefix that sorts at or before it is not repeated (marker semantics of S3).
        """
        if await self.get_bucket(bucket) is None:
            raise BucketNotFound(bucket)
        bprefix = prefix.encode()
        bdelim = delimiter.encode()
        bafter = after.encode() if after is not None else None
        if bafter is not None and bafter >= bprefix:
            start, exclusive = bafter, True
        else:
            start, exclusive = bprefix, False
        entries: list[ListEntry] = []
        truncated = False
        # With a delimiter, a scan may end at the first key that rolls up into a common
        # prefix, and the rest of that batch is wasted: read small batches after a jump and
        # double them while keys keep coming without one.
        batch = 2 if bdelim else limit + 1
        while True:
            want = min(limit - len(entries) + 1, batch)
            rows = await self.scan_objects(bucket, start, exclusive, want)
            if not rows:
                break
            jumped = False
            for k, raw in rows:
                if not k.startswith(bprefix):
                    rows = []
                    break
                if bdelim:
                    i = k.find(bdelim, len(bprefix))
                    if i >= 0:
                        cp = k[: i + len(bdelim)]
                        nxt = keys.prefix_end(cp)
                        if bafter is None or cp > bafter:
                            if len(entries) >= limit:
                                truncated = True
                                break
                            entries.append(ListEntry(cp.decode("utf-8", "surrogateescape")))
                        start, exclusive, jumped = nxt, False, True
                        break
                if len(entries) >= limit:
                    truncated = True
                    break
                head = ObjectSummary.from_bytes(raw)
                entries.append(ListEntry(head.key, head))
                start, exclusive = k, True
            if truncated or not rows:
                break
            if not jumped and len(rows) < want:
                break
            batch = 2 if jumped else batch * 2
        return entries, truncated

    # ----------------------------------------------------------------- GC

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
        ckey = keys.REFCOUNT + block_id
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
        ckey = keys.REFCOUNT + block_id
        await self.kv.commit(Txn().expect(ckey, claim).delete(ckey).delete(qkey))

    async def refcount(self, block_id: bytes) -> int:
        raw = await self.kv.get(keys.REFCOUNT + block_id)
        return RefCount.from_bytes(raw).count if raw is not None else 0
