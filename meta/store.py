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
from typing import Any

from meta import journal, keys, limits, usage, versions
from meta.api import KV, MetaError, Txn, TxnConflict
from meta.errors import (
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    DeleteMarkerFound,
    ObjectNotFound,
    StageLost,
    VersionNotFound,
)
from meta.limits import BATCH, MAX_RETRIES
from meta.records import (
    INLINE_BLOCKS,
    PAGE_BLOCKS,
    BlockRef,
    BucketRecord,
    ObjectHead,
    ObjectSummary,
    now_ms,
    pack_page,
    unpack_page,
)
from meta.refs import BlockRefs
from meta.usage import BucketUsage, Tally
from meta.versions import ENABLED, History

BUCKET_CACHE_SECONDS = 5.0

log = logging.getLogger("cairn.meta")

Condition = Callable[[ObjectHead | None], None]
"""Checks the current head before a write; raises ConditionFailed to refuse it."""

Extra = Callable[[Txn], Awaitable["Counter[bytes]"]]
"""Adds a write's other records to its transaction (e.g. the parts a multipart completion
consumes) and returns their block-reference changes. Called afresh on every attempt."""


@dataclass
class _Write:
    """One put_object call, as each commit attempt needs it."""

    bucket: str
    head: ObjectHead
    observed: dict[bytes, bytes]  # block id -> reference record as last seen
    condition: Condition | None
    source: tuple[bytes, bytes] | None  # (stored key, raw) of a copy's source version
    extra: Extra | None
    taken: Counter[bytes]  # references the commit itself takes
    pages: list[tuple[bytes, bytes]]  # block-list pages the commit itself writes
    stage: tuple[bytes, bytes] | None = None  # (key, value) of the stage record, if staged


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
        self.refs = BlockRefs(kv, gc_grace_ms, self.upload_grace_ms)
        self.journal = journal.Journal(self.refs)
        self._buckets: dict[str, tuple[bytes, float]] = {}
        self._decoded: dict[str, tuple[bytes, BucketRecord]] = {}  # bucket_record's last

    # ----------------------------------------------------------------- buckets

    async def create_bucket(
        self, name: str, region: str, owner: str = "", config: dict[str, Any] | None = None
    ) -> None:
        rec = BucketRecord(
            name, now_ms(), region, owner=owner, config=dict(config or {}), counted=True
        )
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

    async def bucket_record(self, name: str) -> BucketRecord | None:
        """The active bucket record read afresh (access decisions must see a change at
        once); it refreshes the cache ``bucket_raw(cached=True)`` reads, so a PUT that was
        authorized on this record does not read it a second time."""
        raw = await self.kv.get(keys.bucket_key(name))
        if raw is None:
            return None
        hit = self._decoded.get(name)
        if hit is not None and hit[0] == raw:
            rec = hit[1]  # unchanged since last decoded: callers only read it
        else:
            rec = BucketRecord.from_bytes(raw)
            if len(self._decoded) > 10_000:
                self._decoded.clear()
            self._decoded[name] = (raw, rec)
        if rec.state != "active":
            return None
        self._buckets[name] = (raw, time.monotonic() + BUCKET_CACHE_SECONDS)
        return rec

    async def update_bucket(
        self, name: str, change: Callable[[BucketRecord], None]
    ) -> BucketRecord:
        """Change an active bucket's record (its owner or access configuration) with a
        compare-and-swap, retried on conflicts; ``change`` may raise to change nothing."""
        bkey = keys.bucket_key(name)
        for _ in range(MAX_RETRIES):
            raw = await self._bucket_raw(name)
            rec = BucketRecord.from_bytes(raw)
            change(rec)
            try:
                await self.kv.commit(Txn().expect(bkey, raw).put(bkey, rec.to_bytes()))
            except TxnConflict:
                continue
            self.forget_bucket(name)
            return rec
        raise MetaError(f"bucket {name}: too many concurrent changes")

    async def list_buckets(
        self, *, prefix: str = "", after: str = "", limit: int = 100_000
    ) -> list[BucketRecord]:
        """Active buckets in name order: names that start with ``prefix``, after ``after``,
        at most ``limit`` (a page of ListBuckets reads only what it shows, plus records
        of buckets being deleted, which are skipped)."""
        scope = keys.bucket_key(prefix)
        start = max(scope, keys.bucket_key(after) + b"\0") if after else scope
        end = keys.prefix_end(scope)
        out: list[BucketRecord] = []
        while len(out) < limit:
            rows = await self.kv.scan(start, end, limit=min(limit - len(out), 1000))
            if not rows:
                break
            out.extend(
                r for r in map(BucketRecord.from_bytes, (v for _, v in rows)) if r.state == "active"
            )
            start = rows[-1][0] + b"\0"
        return out

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
        upload_prefix = keys.upload_prefix(name)
        if (
            await self.kv.scan(prefix, keys.prefix_end(prefix), limit=1)
            or await self.kv.scan(upload_prefix, keys.prefix_end(upload_prefix), limit=1)
            or await History(self.kv, name).any()  # versions and markers keep it too
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

    async def update_object(
        self,
        bucket: str,
        key: str,
        change: Callable[[ObjectHead], None],
        version_id: str | None = None,
    ) -> ObjectHead:
        """Change a version's record in place (its ACL): same version, same blocks, so no
        reference moves. The current version when version_id is None. The record is
        compared and rewritten in each index that holds it, retried on conflicts."""
        history = History(self.kv, bucket)
        for _ in range(MAX_RETRIES):
            okey, o_raw = await self._head_raw(bucket, key)
            current = ObjectHead.from_bytes(o_raw) if o_raw is not None else None
            if version_id is None or (current is not None and current.vid == version_id):
                if current is None or o_raw is None:
                    if await self.get_bucket(bucket) is None:
                        raise BucketNotFound(bucket)
                    raise ObjectNotFound(key)
                head, raw = current, o_raw
            else:
                head, raw, _ = await self.get_version(bucket, key, version_id)
            change(head)
            new = head.to_bytes()
            txn = Txn().expect(okey, o_raw)
            if current is not None and current.order == head.order:
                txn.put(okey, new)  # the current version: both copies change together
            if head.order:
                hkey = history.key(key, head.order)
                txn.expect(hkey, raw).put(hkey, new)
            try:
                await self.kv.commit(txn)
            except TxnConflict:
                continue
            return head
        raise MetaError(f"{bucket}/{key}: too many concurrent changes")

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
        raw = await self.kv.get(keys.page_key(head.version, page))
        return unpack_page(raw) if raw else []

    async def observe_block(self, block_id: bytes) -> bytes:
        """See BlockRefs.observe_block: read before a block is written, compared at commit."""
        return await self.refs.observe_block(block_id)

    async def put_object(
        self,
        bucket: str,
        head: ObjectHead,
        observed: dict[bytes, bytes],
        condition: Condition | None = None,
        source: tuple[bytes, bytes] | None = None,
        extra: Extra | None = None,
        *,
        moved: bool = False,
    ) -> ObjectHead | None:
        """Commit head as the current version of its key; return the version it replaced.

        ``observed`` maps each block id of ``head`` to its reference record as read by
        observe_block before the block was written. ``source`` (stored key, raw record, from
        get_version) guards a copy: the source version must be unchanged when it commits.
        ``moved``: head's references are already held, by records that ``extra`` hands
        over to it (a multipart completion takes its parts' references).

        The commit is one small transaction. References and block-list pages that would
        not fit in it are staged before it and the replaced version is released after it
        (meta.journal), so its size does not grow with the object.
        """
        blocks = head.blocks or []
        if head.blocks is None and head.pages:  # already paged by the caller
            raise ValueError("put_object takes the block list in head.blocks")
        taken: Counter[bytes] = Counter() if moved else Counter(h for h, _ in blocks)
        w = _Write(bucket, head, dict(observed), condition, source, extra, taken, _paginate(head))
        if len(w.taken) > BATCH or len(w.pages) > limits.PAGES_IN_COMMIT:
            w.stage = await self.journal.stage(
                head.version, w.taken, w.observed, head.version, w.pages
            )
            w.taken, w.pages = Counter(), []
        try:
            old, release = await self._commit_head(w)
        except BaseException:
            if w.stage is not None:
                await self.journal.abandon(w.stage[0])
            raise
        if release is not None:
            await self.finish(release)
        return old

    async def _commit_head(self, w: _Write) -> tuple[ObjectHead | None, bytes | None]:
        """Commit w's head against the current one, re-reading after each conflict; return
        the version replaced and the release record left to finish, if any."""
        for attempt in range(MAX_RETRIES):
            txn, old, release = await self._head_txn(w, cached_bucket=attempt == 0)
            try:
                await self.kv.commit(txn)
            except TxnConflict:
                self.forget_bucket(w.bucket)
                if w.stage is None:
                    await self.refs.refresh_observed(w.observed)
                elif await self.kv.get(w.stage[0]) != w.stage[1]:
                    raise StageLost(w.stage[0].hex()) from None
                continue
            return old, release
        raise MetaError("too many conflicting writers")

    async def _head_txn(
        self, w: _Write, *, cached_bucket: bool
    ) -> tuple[Txn, ObjectHead | None, bytes | None]:
        """One attempt's transaction: compare the bucket, the current head (and a copy's
        source, and the stage), put the head and pages, adjust the references."""
        braw = await self.bucket_raw(w.bucket, cached=cached_bucket)
        okey, old_raw = await self._head_raw(w.bucket, w.head.key)
        old = ObjectHead.from_bytes(old_raw) if old_raw is not None else None
        if w.condition is not None:
            w.condition(old)
        txn = Txn().expect(keys.bucket_key(w.bucket), braw).expect(okey, old_raw)
        if w.source is not None:
            txn.expect(*w.source)
        if w.stage is not None:
            txn.expect(w.stage[0], w.stage[1]).delete(w.stage[0])
        for k, v in w.pages:
            txn.put(k, v)
        delta = Counter(w.taken)
        state = versioning_of(braw)
        tally = Tally(w.head)
        if state is None:
            w.head.vid, w.head.order = "null", b""
            release = self._release(txn, old, delta) if old is not None else None
            tally.remove(old)
        else:
            release = await self._add_version(txn, w.bucket, w.head, old, state, delta, tally)
        tally.record(txn, w.bucket, braw)
        txn.put(okey, w.head.to_bytes())
        if w.extra is not None:
            delta.update(await w.extra(txn))
        await self.refs.apply_refcounts(txn, delta, w.observed)
        return txn, old, release

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
        if ids is not None and len(set(delta) | set(ids)) <= BATCH:
            delta.subtract(ids)
            return None
        rkey = keys.RELEASE + (version or journal.new_id())
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
            Tally().remove(old).record(txn, bucket, await self.bucket_raw(bucket, cached=True))
            if await self._commit_dropping(txn, old):
                return old
        raise MetaError("too many conflicting writers")

    async def _commit_dropping(self, txn: Txn, dropped: ObjectHead | None) -> bool:
        """Commit ``txn`` with the block references of ``dropped`` (a removed version)
        released in it; False on a conflict, for the caller to read again and retry. A big
        version's release journal is finished after the commit."""
        delta: Counter[bytes] = Counter()
        release = self._release(txn, dropped, delta) if dropped is not None else None
        await self.apply_refcounts(txn, delta, {})
        try:
            await self.kv.commit(txn)
        except TxnConflict:
            return False
        if release is not None:
            await self.finish(release)
        return True

    # ---------------------------------------------------------------- versions

    async def _add_version(
        self,
        txn: Txn,
        bucket: str,
        new: ObjectHead,
        old: ObjectHead | None,
        state: str,
        delta: Counter[bytes],
        tally: Tally,
    ) -> bytes | None:
        """Put ``new`` (a version or a delete marker) into the history of a versioned
        bucket, in txn: Enabled gives it a fresh id and keeps every older version;
        Suspended makes it the null version, replacing (and releasing) the one before.
        A head written before versioning (``old`` without an order) is the key's null
        version: Enabled moves it into the history. Returns a release left to finish;
        a version removed for good is taken off ``tally``."""
        history = History(self.kv, bucket)
        newest = await history.newest(new.key, 1)
        latest = versions.time_of(newest[0][0][-versions.ORDER_LEN :]) if newest else 0
        legacy = old if old is not None and not old.order else None
        if legacy is not None:
            latest = max(latest, legacy.mtime_ms * 1000)
        t = max(versions.now_us(), latest + 1)  # newest first, even if the clock stepped back
        new.vid, new.order = versions.new_version(t, null=state != ENABLED)
        release = None
        if state == ENABLED:
            if legacy is not None:
                _, legacy.order = versions.new_version(legacy.mtime_ms * 1000, null=True)
                txn.put(history.key(legacy.key, legacy.order), legacy.to_bytes())
        elif legacy is not None:
            release = self._release(txn, legacy, delta)
            tally.remove(legacy)
        else:
            found = await history.find(new.key, "null")
            if found is not None:
                txn.expect(found[0], found[1]).delete(found[0])
                replaced = ObjectHead.from_bytes(found[1])
                release = self._release(txn, replaced, delta)
                tally.remove(replaced)
        txn.put(history.key(new.key, new.order), new.to_bytes())
        return release

    async def has_versions(self, bucket: str) -> bool:
        return await History(self.kv, bucket).any()

    async def versioning(self, bucket: str) -> str | None:
        """The bucket's versioning state: None (never enabled), Enabled or Suspended."""
        return versioning_of(await self.bucket_raw(bucket, cached=True))

    async def delete_current(
        self, bucket: str, key: str, owner: str = ""
    ) -> tuple[ObjectHead | None, ObjectHead | None]:
        """DELETE without a version id: (the version removed or hidden, the delete marker
        made). An unversioned bucket removes the object; a versioned one hides it behind
        a new delete marker (a null one when suspended, which replaces the null version)."""
        for attempt in range(MAX_RETRIES):
            # The commit compares the bucket record: a delete never lands as unversioned
            # after versioning was enabled, nor makes a marker after a change of state.
            braw = await self.bucket_raw(bucket, cached=attempt == 0)
            state = versioning_of(braw)
            okey, old_raw = await self._head_raw(bucket, key)
            old = ObjectHead.from_bytes(old_raw) if old_raw is not None else None
            if state is None and old is None:  # unversioned, and nothing to delete
                if attempt == 0 and await self.get_bucket(bucket) is None:
                    raise BucketNotFound(bucket)  # the cached record may be of a gone bucket
                return None, None
            txn = Txn().expect(keys.bucket_key(bucket), braw).expect(okey, old_raw)
            delta: Counter[bytes] = Counter()
            marker = None
            if state is None:
                assert old is not None
                release = self._release(txn, old, delta)
                tally = Tally().remove(old)
            else:
                marker = ObjectHead(key, marker=True, owner=owner)
                tally = Tally(marker)
                release = await self._add_version(txn, bucket, marker, old, state, delta, tally)
            tally.record(txn, bucket, braw)
            if old_raw is not None:
                txn.delete(okey)
            await self.apply_refcounts(txn, delta, {})
            try:
                await self.kv.commit(txn)
            except TxnConflict:
                self.forget_bucket(bucket)
                continue
            if release is not None:
                await self.finish(release)
            return old, marker
        raise MetaError("too many conflicting writers")

    async def get_version(
        self, bucket: str, key: str, version_id: str | None
    ) -> tuple[ObjectHead, bytes, bytes]:
        """(head, raw record, stored key) of a version: the current one when version_id
        is None. A delete marker raises DeleteMarkerFound; a missing version
        VersionNotFound (ObjectNotFound for the current one)."""
        okey, raw = await self._head_raw(bucket, key)
        if version_id is None:
            if raw is not None:
                return ObjectHead.from_bytes(raw), raw, okey
            newest = await History(self.kv, bucket).newest(key, 1)
            if newest:
                head = ObjectHead.from_bytes(newest[0][1])
                if head.marker:
                    raise DeleteMarkerFound(key, head.vid, head.mtime_ms, by_id=False)
            if await self.get_bucket(bucket) is None:
                raise BucketNotFound(bucket)
            raise ObjectNotFound(key)
        if raw is not None and version_id == "null":
            head = ObjectHead.from_bytes(raw)
            if not head.order:  # written before versioning: the key's null version
                return head, raw, okey
        found = await History(self.kv, bucket).find(key, version_id)
        if found is None:
            if await self.get_bucket(bucket) is None:
                raise BucketNotFound(bucket)
            raise VersionNotFound(version_id)
        head = ObjectHead.from_bytes(found[1])
        if head.marker:
            raise DeleteMarkerFound(key, head.vid, head.mtime_ms, by_id=True)
        return head, found[1], found[0]

    async def delete_version(self, bucket: str, key: str, version_id: str) -> ObjectHead | None:
        """Remove one version (or delete marker) for good and release its blocks; when it
        was the newest, the next one becomes current (unless that is a marker). None when
        there is no such version (S3 answers success all the same)."""
        history = History(self.kv, bucket)
        for _ in range(MAX_RETRIES):
            okey, o_raw = await self._head_raw(bucket, key)
            current = ObjectHead.from_bytes(o_raw) if o_raw is not None else None
            txn = Txn().expect(okey, o_raw)
            if current is not None and not current.order and version_id == "null":
                rec, hkey = current, okey  # written before versioning: the only version
                txn.delete(okey)
            else:
                found = await history.find(key, version_id)
                if found is None:
                    if await self.get_bucket(bucket) is None:
                        raise BucketNotFound(bucket)
                    return None
                hkey, rec = found[0], ObjectHead.from_bytes(found[1])
                txn.expect(hkey, found[1]).delete(hkey)
                newest = await history.newest(key, 2)
                if newest and newest[0][0] == hkey:  # the newest goes: promote the next
                    nxt = newest[1] if len(newest) > 1 else None
                    if nxt is not None and not ObjectHead.from_bytes(nxt[1]).marker:
                        txn.expect(nxt[0], nxt[1]).put(okey, nxt[1])
                    elif o_raw is not None:
                        txn.delete(okey)
            Tally().remove(rec).record(txn, bucket, await self.bucket_raw(bucket, cached=True))
            if await self._commit_dropping(txn, None if rec.marker else rec):
                return rec
        raise MetaError("too many conflicting writers")

    async def list_versions(
        self,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        version_marker: str,
        limit: int,
    ) -> versions.VersionPage:
        if await self.get_bucket(bucket) is None:
            raise BucketNotFound(bucket)
        return await versions.list_versions(
            self.kv, bucket, prefix, delimiter, key_marker, version_marker, limit
        )

    async def apply_refcounts(
        self, txn: Txn, delta: Counter[bytes], observed: dict[bytes, bytes]
    ) -> None:
        await self.refs.apply_refcounts(txn, delta, observed)

    async def refresh_observed(self, observed: dict[bytes, bytes]) -> None:
        await self.refs.refresh_observed(observed)

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

    # ----------------------------------------------------------------- usage

    async def bucket_usage(self, bucket: str) -> BucketUsage:
        """Objects (every version and delete marker) and bytes the bucket holds, from
        its counters (meta.usage): a few reads, never a scan of its objects."""
        return await usage.read_bucket(self.kv, bucket)

    async def all_usage(self) -> dict[str, BucketUsage]:
        """Usage of every active bucket (zero for one with no counters yet)."""
        counted = await usage.read_all(self.kv)
        return {b.name: counted.get(b.name, usage.ZERO) for b in await self.list_buckets()}

    # ----------------------------------------------------------------- GC

    async def gc_due(self, limit: int = 1000) -> list[tuple[bytes, bytes, bytes]]:
        return await self.refs.gc_due(limit)

    async def gc_claim(self, qkey: bytes, block_id: bytes, queued: bytes) -> bytes | None:
        return await self.refs.gc_claim(qkey, block_id, queued)

    async def gc_finish(self, qkey: bytes, block_id: bytes, claim: bytes) -> None:
        await self.refs.gc_finish(qkey, block_id, claim)

    async def refcount(self, block_id: bytes) -> int:
        return await self.refs.refcount(block_id)

    async def block_known(self, block_id: bytes) -> bool:
        """See BlockRefs.block_known: a record that GC has not claimed."""
        return await self.refs.block_known(block_id)


def versioning_of(bucket_raw: bytes) -> str | None:
    """A bucket record's versioning state: None (never enabled), Enabled or Suspended."""
    state = BucketRecord.from_bytes(bucket_raw).config.get("versioning")
    return state if isinstance(state, str) else None


def _paginate(head: ObjectHead) -> list[tuple[bytes, bytes]]:
    """Move a long block list out of head into block-list pages; return the pages."""
    blocks = head.blocks or []
    if len(blocks) <= INLINE_BLOCKS:
        return []
    head.blocks = None
    head.pages = (len(blocks) + PAGE_BLOCKS - 1) // PAGE_BLOCKS
    return [
        (keys.page_key(head.version, i), pack_page(blocks[i * PAGE_BLOCKS : (i + 1) * PAGE_BLOCKS]))
        for i in range(head.pages)
    ]
