"""Changes too big for one metadata transaction, done in bounded steps that are safe to
stop at any point.

etcd takes at most 128 operations and 1.5 MiB per transaction by default, and Cairn runs it
with those defaults. The commit of an object version stays one small transaction; what
does not fit beside it is done before it (staged) or after it (released), one batch per
transaction, each batch guarded by a journal record that it compares and advances:

    JS<id>          stage: block references taken for a version that is not committed yet
    JR<id>          release: block references of a version that is gone, still to drop
    JU<upload id>   the part records of a completed or aborted multipart upload, to remove

Stage. Before the commit, the new version's references are incremented, BATCH blocks per
transaction, each one also moving the stage record's cursor; its block-list pages are
written too. The commit compares and deletes the stage record, so from then on the
increments belong to the committed head. A writer that fails before its commit rolls its
stage back at once; one that died cannot, so housekeeping turns a stage record older than
the upload grace period into a release of exactly the increments its cursor counts, plus
its pages. That is how GC tells staged garbage from live data: a staged reference is live
while its stage record is young and is released when the writer is presumed dead; a writer
still going after that finds its stage record gone and fails its commit (503) instead of
committing references that were dropped.

Release. The commit that removes a version (overwrite, DELETE) writes a release record in
the same transaction instead of decrementing every reference inline; the writer then works
through it in batches, and housekeeping finishes any that a crash left behind. A reference
dropped late only keeps a block a little longer. A removed multipart upload's parts are
released the same way: parts that became the object are only deleted, the others' blocks
are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import Iterable

from meta import keys
from meta.api import MetaError, Txn, TxnConflict
from meta.errors import BlockVanished, StageLost
from meta.keys import JOURNAL, RELEASE, STAGE, UPLOAD_PARTS
from meta.limits import BATCH, DELETES_PER_TXN, MAX_RETRIES, PAGES_PER_TXN
from meta.records import (
    DELETING,
    PAGE_BLOCKS,
    Part,
    RefCount,
    now_ms,
    pack_record,
    unpack_page,
    unpack_record,
)
from meta.refs import BlockRefs

log = logging.getLogger("cairn.journal")


def release_record(
    ids: list[bytes] | None = None, version: bytes | None = None, pages: int = 0
) -> bytes:
    """A release of references: one per entry of ``ids`` or, when the list is in pages, of
    the ``pages`` block-list pages of ``version``; those pages are deleted at the end."""
    return pack_record({"b": ids, "v": version, "p": pages, "c": 0, "t": now_ms()})


def new_id() -> bytes:
    return os.urandom(16)


class Journal:
    def __init__(self, refs: BlockRefs) -> None:
        self.refs = refs
        self.kv = refs.kv

    # ------------------------------------------------------------------ stage

    async def stage(
        self,
        sid: bytes,
        delta: Counter[bytes],
        observed: dict[bytes, bytes],
        version: bytes | None = None,
        pages: list[tuple[bytes, bytes]] | None = None,
    ) -> tuple[bytes, bytes]:
        """Take the references in ``delta`` and write ``pages`` ahead of a commit.

        Returns the stage record's key and value: the commit must compare it and delete
        it. ``observed`` holds the records of new blocks as observe_block saw them."""
        skey = STAGE + sid
        entries = sorted((b, n) for b, n in delta.items() if n > 0)
        raw = pack_record(
            {"d": [[b, n] for b, n in entries], "c": 0, "v": version, "p": len(pages or ()),
             "t": now_ms()}
        )  # fmt: skip
        await self.kv.commit(Txn().expect(skey, None).put(skey, raw))
        try:
            for i in range(0, len(pages or ()), PAGES_PER_TXN):
                txn = Txn().expect(skey, raw)
                for k, v in (pages or [])[i : i + PAGES_PER_TXN]:
                    txn.put(k, v)
                await self._commit_owned(txn, skey)
            observed = dict(observed)
            done = 0
            while done < len(entries):
                batch = entries[done : done + BATCH]
                rec = unpack_record(raw)
                rec["c"] = done + len(batch)
                new_raw = pack_record(rec)
                for _ in range(MAX_RETRIES):
                    txn = Txn().expect(skey, raw).put(skey, new_raw)
                    await self._take(txn, batch, observed)
                    try:
                        await self.kv.commit(txn)
                        break
                    except TxnConflict:
                        if await self.kv.get(skey) != raw:
                            raise StageLost(sid.hex()) from None
                        await self.refs.refresh_observed(observed)
                else:
                    raise MetaError("too many conflicting writers")
                raw = new_raw
                done += len(batch)
        except BaseException:
            await self.abandon(skey)
            raise
        return skey, raw

    async def _take(
        self, txn: Txn, batch: list[tuple[bytes, int]], observed: dict[bytes, bytes]
    ) -> None:
        """Increment each block's count, guarded by the record as last seen. A block whose
        record is gone or claimed by GC may already be deleted: the write must be redone."""
        for block_id, n in batch:
            ckey = keys.refcount_key(block_id)
            cur = observed.get(block_id)
            if cur is None:
                cur = await self.kv.get(ckey)
            if cur is None or RefCount.from_bytes(cur).count == DELETING:
                raise BlockVanished(block_id.hex())
            txn.expect(ckey, cur).put(
                ckey, RefCount.new(RefCount.from_bytes(cur).count + n).to_bytes()
            )

    async def _commit_owned(self, txn: Txn, skey: bytes) -> None:
        try:
            await self.kv.commit(txn)
        except TxnConflict:
            raise StageLost(skey[len(STAGE) :].hex()) from None

    async def abandon(self, skey: bytes) -> None:
        """Roll back a stage whose commit will not happen (best effort: if this fails,
        housekeeping does it after the grace period)."""
        try:
            rkey = await self._to_release(skey)
            if rkey is not None:
                await self.process(rkey)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - left to housekeeping
            log.warning("could not roll back stage %s now; housekeeping will", skey.hex())

    async def _to_release(self, skey: bytes) -> bytes | None:
        """Turn a stage record into the release of what it staged, in one transaction."""
        raw = await self.kv.get(skey)
        if raw is None:
            return None
        rec = unpack_record(raw)
        ids = [b for b, n in rec["d"][: rec["c"]] for _ in range(n)]
        rkey = RELEASE + skey[len(STAGE) :]
        release = release_record(ids, rec["v"], rec["p"])
        try:
            await self.kv.commit(Txn().expect(skey, raw).delete(skey).put(rkey, release))
        except TxnConflict:
            return None  # committed or rolled back meanwhile
        return rkey

    # ---------------------------------------------------------------- release

    async def process(self, jkey: bytes) -> None:
        """Work through one release or upload-parts record to its end, and through the
        release records it spawned (parts too big to drop in one transaction)."""
        todo = [jkey]
        while todo:
            jkey = todo.pop()
            while (raw := await self.kv.get(jkey)) is not None:
                try:
                    if jkey.startswith(RELEASE):
                        finished = await self._release_step(jkey, raw)
                    elif jkey.startswith(UPLOAD_PARTS):
                        finished = await self._parts_step(jkey, raw, todo)
                    else:
                        raise ValueError(f"not a release record: {jkey!r}")
                except TxnConflict:
                    continue  # another process advanced it: re-read
                if finished:
                    break

    async def _release_step(self, jkey: bytes, raw: bytes) -> bool:
        rec = unpack_record(raw)
        ids: list[bytes] | None = rec["b"]
        version: bytes | None = rec["v"]
        pages: int = rec["p"]
        txn = Txn().expect(jkey, raw)
        batch, advance = await self._release_batch(ids, version, pages, rec["c"])
        if advance:
            rec["c"] += advance
            delta: Counter[bytes] = Counter()
            delta.subtract(batch)
            await self.refs.apply_refcounts(txn, delta, {})
            await self.kv.commit(txn.put(jkey, pack_record(rec)))
            return False
        # Every reference is dropped. Delete the pages from the last one down, so that
        # "p" stays the count of pages left (a list read from pages is done by then).
        if version is not None and pages:
            first = max(pages - DELETES_PER_TXN, 0)
            for i in range(first, pages):
                txn.delete(keys.page_key(version, i))
            if first:
                rec["p"] = first
                await self.kv.commit(txn.put(jkey, pack_record(rec)))
                return False
        await self.kv.commit(txn.delete(jkey))
        return True

    async def _release_batch(
        self, ids: list[bytes] | None, version: bytes | None, pages: int, cursor: int
    ) -> tuple[list[bytes], int]:
        """The next references to drop (at most BATCH distinct blocks) from the list or
        its pages, and how far the cursor moves; (_, 0) when the list is done."""
        if ids is not None:
            source: list[bytes] = ids[cursor:]
        elif version is not None and cursor < pages * PAGE_BLOCKS:
            page, skip = divmod(cursor, PAGE_BLOCKS)
            praw = await self.kv.get(keys.page_key(version, page))
            source = [b for b, _ in unpack_page(praw)][skip:] if praw else []
            if not source:  # past the end of a short last page, or a page never written
                return [], PAGE_BLOCKS - skip
        else:
            return [], 0
        out: list[bytes] = []
        seen: set[bytes] = set()
        for b in source:
            if b not in seen and len(seen) >= BATCH:
                break
            seen.add(b)
            out.append(b)
        return out, len(out)

    async def _parts_step(self, jkey: bytes, raw: bytes, spawned_keys: list[bytes]) -> bool:
        rec = unpack_record(raw)
        upload_id: str = rec["u"]
        used = set(rec["used"])
        after: int = rec["a"]
        prefix = keys.part_prefix(upload_id)
        rows = await self.kv.scan(
            prefix + keys.u32(after + 1), keys.prefix_end(prefix), limit=DELETES_PER_TXN // 2
        )
        txn = Txn().expect(jkey, raw)
        if not rows:
            await self.kv.commit(txn.delete(jkey))
            return True
        delta: Counter[bytes] = Counter()
        spawned: bytes | None = None
        for pkey, praw in rows:
            part = Part.from_bytes(praw)
            if part.number not in used:
                ids = [b for b, _ in part.blocks]
                if len(set(delta) | set(ids)) <= BATCH:
                    delta.subtract(ids)
                elif delta or spawned:
                    break  # the next transaction takes it
                else:
                    # A part too big to drop in one go gets a release record of its own.
                    spawned = RELEASE + new_id()
                    txn.put(spawned, release_record(ids))
            txn.delete(pkey)
            after = part.number
        rec["a"] = after
        await self.refs.apply_refcounts(txn, delta, {})
        await self.kv.commit(txn.put(jkey, pack_record(rec)))
        if spawned is not None:
            spawned_keys.append(spawned)
        return False

    # ----------------------------------------------------------- housekeeping

    async def run(self, limit: int = 1000) -> int:
        """Finish every release, and roll back stages older than the upload grace period.
        Returns how many records were finished."""
        rows = await self.kv.scan(JOURNAL, keys.prefix_end(JOURNAL), limit=limit)
        finished = 0
        stale_before = now_ms() - self.refs.upload_grace_ms
        for jkey, raw in rows:
            if jkey.startswith(STAGE):
                if unpack_record(raw)["t"] > stale_before:
                    continue  # its writer may still commit
                rkey = await self._to_release(jkey)
                if rkey is None:
                    continue
                log.info("journal: rolling back stage %s (writer gone)", jkey.hex())
                jkey = rkey
            await self.process(jkey)
            finished += 1
        return finished

    async def pending(self) -> list[bytes]:
        return [k for k, _ in await self.kv.scan(JOURNAL, keys.prefix_end(JOURNAL), limit=10_000)]


def parts_record(upload_id: str, used: Iterable[int]) -> bytes:
    return pack_record({"u": upload_id, "used": sorted(used), "a": 0, "t": now_ms()})
