"""Multipart uploads in metadata: the upload, its parts, and the completion that turns
them into one object version in a single transaction.

Records (keys in meta.keys, record types in meta.records):

    U<bucket>\\0<upload id>      the upload: key, headers, checksum algorithm and type, and
                                a nonce that every part commit changes
    Q<upload id><part:4>        one part: etag, size, checksums, block list
    W<upload id>                a completed upload, so a retried Complete answers the same

A part's blocks are referenced from the moment the part commits, so GC keeps them while
the upload is open; completing moves the references to the object, aborting drops them.

A Complete of 10,000 parts cannot compare 10,000 part records in one etcd transaction
(128 operations). It does not need to: every part commit changes the upload record's
nonce, so comparing the upload record alone proves that no part changed since the parts
were read. The commit removes the upload record (after which no part can be added) and
leaves a journal record (meta.journal, JU) through which the part records are deleted,
and the blocks of parts that were not used are released, in bounded batches.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter

import msgpack

from meta import journal, keys
from meta.api import MetaError, Txn, TxnConflict
from meta.errors import BucketNotFound, PartChanged, StageLost, UploadNotFound
from meta.keys import part_prefix
from meta.limits import BATCH, MAX_RETRIES
from meta.records import ObjectHead, Part, Upload
from meta.store import Also, Condition, MetaStore

# Concurrent part commits conflict on the upload record and retry, one winning per round;
# with jittered backoff, enough rounds for hundreds of parts committing at once.
PART_RETRIES = 1000


def _valid_id(upload_id: str) -> bool:
    return len(upload_id) == 32 and all(c in "0123456789abcdef" for c in upload_id)


class Uploads:
    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta
        self.kv = meta.kv

    async def create(self, upload: Upload) -> Upload:
        if await self.meta.get_bucket(upload.bucket) is None:
            raise BucketNotFound(upload.bucket)
        upload.upload_id = os.urandom(16).hex()
        ukey = keys.upload_key(upload.bucket, upload.upload_id)
        braw = await self.meta.bucket_raw(upload.bucket)
        await self.kv.commit(
            Txn().expect(keys.bucket_key(upload.bucket), braw).put(ukey, upload.to_bytes())
        )
        return upload

    async def get(self, bucket: str, key: str, upload_id: str) -> tuple[Upload, bytes]:
        raw = (
            await self.kv.get(keys.upload_key(bucket, upload_id)) if _valid_id(upload_id) else None
        )
        if raw is None:
            if await self.meta.get_bucket(bucket) is None:
                raise BucketNotFound(bucket)
            raise UploadNotFound(upload_id)
        upload = Upload.from_bytes(upload_id, raw)
        if upload.key != key:
            raise UploadNotFound(upload_id)
        return upload, raw

    async def put_part(
        self, bucket: str, key: str, upload_id: str, part: Part, observed: dict[bytes, bytes]
    ) -> None:
        """Commit a part (replacing one with the same number) while the upload exists."""
        observed = dict(observed)
        pkey = keys.part_key(upload_id, part.number)
        taken: Counter[bytes] = Counter(h for h, _ in part.blocks)
        stage: tuple[bytes, bytes] | None = None
        if len(taken) > BATCH:
            stage = await self.meta.journal.stage(journal.new_id(), taken, observed)
            taken = Counter()
        committed = False
        try:
            for attempt in range(PART_RETRIES):
                if attempt:  # parts committing at once all change the upload record:
                    await asyncio.sleep(random.uniform(0, 0.001 * min(attempt, 20)))
                upload, uraw = await self.get(bucket, key, upload_id)
                old_raw = await self.kv.get(pkey)
                txn = Txn().expect(keys.upload_key(bucket, upload_id), uraw).expect(pkey, old_raw)
                txn.put(keys.upload_key(bucket, upload_id), upload.bumped())
                txn.put(pkey, part.to_bytes())
                if stage is not None:
                    txn.expect(stage[0], stage[1]).delete(stage[0])
                delta = Counter(taken)
                release = None
                if old_raw is not None:
                    old_ids = [h for h, _ in Part.from_bytes(old_raw).blocks]
                    release = self.meta.drop_refs(txn, delta, old_ids)
                await self.meta.apply_refcounts(txn, delta, observed)
                try:
                    await self.kv.commit(txn)
                except TxnConflict:
                    if stage is None:
                        await self.meta.refresh_observed(observed)
                    elif await self.kv.get(stage[0]) != stage[1]:
                        raise StageLost(stage[0].hex()) from None
                    continue
                committed = True
                if release is not None:
                    await self.meta.finish(release)
                return
            raise MetaError("too many conflicting writers")
        finally:
            if stage is not None and not committed:
                await self.meta.journal.abandon(stage[0])

    async def parts(
        self, upload_id: str, after: int = 0, limit: int = 10_000
    ) -> list[tuple[Part, bytes]]:
        """Parts after part number ``after``, read in pages so no one response is huge."""
        prefix = part_prefix(upload_id)
        out: list[tuple[Part, bytes]] = []
        while len(out) < limit:
            rows = await self.kv.scan(
                prefix + keys.u32(after + 1), keys.prefix_end(prefix), min(limit - len(out), 500)
            )
            out.extend((Part.from_bytes(raw), raw) for _, raw in rows)
            if len(rows) < min(limit - len(out) + len(rows), 500):
                break
            after = out[-1][0].number
        return out

    async def abort(
        self, bucket: str, key: str, upload_id: str, *, also: Also | None = None
    ) -> None:
        """Remove the upload in one transaction; its parts go through the journal.
        ``also`` adds a caller's records to that transaction (meta.store.Also)."""
        ukey = keys.upload_key(bucket, upload_id)
        for _ in range(MAX_RETRIES):
            _, uraw = await self.get(bucket, key, upload_id)  # validates the id
            jkey = keys.upload_parts_key(upload_id)
            txn = Txn().expect(ukey, uraw).delete(ukey)
            if also is not None:
                also(txn)
            txn.put(jkey, journal.parts_record(upload_id, ()))
            try:
                await self.kv.commit(txn)
            except TxnConflict:
                continue
            await self.meta.finish(jkey)
            return
        raise MetaError("too many conflicting writers")

    async def complete(
        self,
        upload: Upload,
        upload_raw: bytes,
        head: ObjectHead,
        used: list[tuple[Part, bytes]],
        condition: Condition | None = None,
    ) -> ObjectHead:
        """Make head (whose blocks are the used parts' blocks, in order) the current version.

        ``upload_raw`` must have been read before the parts in ``used``: the commit compares
        it, and any part commit since then changed it (PartChanged: read again and retry).
        In the same transaction the upload record goes and a completion record stays for
        retried requests; the used parts' references become the object's.
        """
        bucket, upload_id = upload.bucket, upload.upload_id
        ukey = keys.upload_key(bucket, upload_id)
        jkey = keys.upload_parts_key(upload_id)

        async def extra(txn: Txn) -> Counter[bytes]:
            current = await self.kv.get(ukey)
            if current is None:
                raise UploadNotFound(upload_id)  # aborted or completed meanwhile
            if current != upload_raw:
                raise PartChanged(upload_id)
            txn.expect(ukey, upload_raw).delete(ukey)
            txn.put(jkey, journal.parts_record(upload_id, (p.number for p, _ in used)))
            done = msgpack.packb([bucket, upload.key, head.etag, head.version], use_bin_type=True)
            txn.put(keys.done_key(upload_id), done)
            return Counter()

        await self.meta.put_object(bucket, head, {}, condition, extra=extra, moved=True)
        await self.meta.finish(jkey)
        return head

    async def completed(self, bucket: str, key: str, upload_id: str) -> tuple[str, bytes] | None:
        """(etag, version) if this upload was completed into bucket/key: for retries."""
        if not _valid_id(upload_id):
            return None
        raw = await self.kv.get(keys.done_key(upload_id))
        if raw is None:
            return None
        b, k, etag, version = msgpack.unpackb(raw, raw=False)
        return (etag, version) if (b, k) == (bucket, key) else None

    async def list(self, bucket: str) -> list[Upload]:
        """Every open upload of a bucket, sorted by key then initiation (S3's order)."""
        if await self.meta.get_bucket(bucket) is None:
            raise BucketNotFound(bucket)
        prefix = keys.upload_prefix(bucket)
        rows = await self.kv.scan(prefix, keys.prefix_end(prefix), limit=10_000_000)
        ups = [Upload.from_bytes(k[len(prefix) :].decode(), v) for k, v in rows]
        ups.sort(key=lambda u: (u.key.encode(), u.initiated_ms, u.upload_id))
        return ups

    async def expire(self, older_than_ms: int) -> int:
        """Abort every upload initiated before older_than_ms (abandoned uploads): their
        parts' blocks drop to GC. Returns how many were aborted."""
        rows = await self.kv.scan(keys.UPLOAD, keys.prefix_end(keys.UPLOAD), limit=1_000_000)
        aborted = 0
        for k, raw in rows:
            bucket, _, upload_id = k[len(keys.UPLOAD) :].partition(b"\0")
            upload = Upload.from_bytes(upload_id.decode(), raw)
            if upload.initiated_ms >= older_than_ms:
                continue
            try:
                await self.abort(bucket.decode(), upload.key, upload.upload_id)
                aborted += 1
            except (UploadNotFound, BucketNotFound):
                pass  # completed or aborted meanwhile
        return aborted
