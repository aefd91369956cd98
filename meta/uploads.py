"""Multipart uploads in metadata: the upload, its parts, and the completion that turns
them into one object version in a single transaction.

Records (beside those in meta.keys):

    U<bucket>\\0<upload id>      the upload: key, headers, checksum algorithm and type
    Q<upload id><part:4>        one part: etag, size, checksums, block list
    W<upload id>                a completed upload, so a retried Complete answers the same

A part's blocks are referenced from the moment the part commits, so GC keeps them while
the upload is open; completing moves the references to the object, aborting drops them.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgpack

from meta import keys
from meta.api import MetaError, Txn, TxnConflict
from meta.records import BlockRef, ObjectHead, now_ms
from meta.store import MAX_RETRIES, BucketNotFound, Condition, MetaStore

PART = b"Q"
DONE = b"W"


class UploadNotFound(MetaError):
    pass


class PartChanged(MetaError):
    """A part was uploaded again while the upload was being completed: retry Complete."""


@dataclass
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated_ms: int = field(default_factory=now_ms)
    headers: dict[str, str] = field(default_factory=dict)
    user_meta: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None

    def to_bytes(self) -> bytes:
        return msgpack.packb(
            {
                "_": 1,
                "b": self.bucket,
                "k": self.key,
                "i": self.initiated_ms,
                "h": self.headers,
                "m": self.user_meta,
                "ca": self.checksum_algorithm,
                "ct": self.checksum_type,
            },
            use_bin_type=True,
        )

    @classmethod
    def from_bytes(cls, upload_id: str, raw: bytes) -> Upload:
        d: dict[str, Any] = msgpack.unpackb(raw, raw=False)
        return cls(upload_id, d["b"], d["k"], d["i"], d["h"], d["m"], d.get("ca"), d.get("ct"))


@dataclass
class Part:
    number: int
    etag: str
    size: int
    blocks: list[BlockRef]
    mtime_ms: int = field(default_factory=now_ms)
    checksums: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return msgpack.packb(
            {
                "_": 1,
                "n": self.number,
                "e": self.etag,
                "s": self.size,
                "b": [[h, n] for h, n in self.blocks],
                "t": self.mtime_ms,
                "x": self.checksums,
            },
            use_bin_type=True,
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Part:
        d: dict[str, Any] = msgpack.unpackb(raw, raw=False)
        return cls(d["n"], d["e"], d["s"], [(h, n) for h, n in d["b"]], d["t"], d.get("x", {}))


def _upload_key(bucket: str, upload_id: str) -> bytes:
    return keys.UPLOAD + bucket.encode() + b"\0" + upload_id.encode()


def _part_prefix(upload_id: str) -> bytes:
    return PART + bytes.fromhex(upload_id)


def _part_key(upload_id: str, number: int) -> bytes:
    return _part_prefix(upload_id) + keys.u32(number)


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
        ukey = _upload_key(upload.bucket, upload.upload_id)
        braw = await self.meta.bucket_raw(upload.bucket)
        await self.kv.commit(
            Txn().expect(keys.bucket_key(upload.bucket), braw).put(ukey, upload.to_bytes())
        )
        return upload

    async def get(self, bucket: str, key: str, upload_id: str) -> tuple[Upload, bytes]:
        raw = await self.kv.get(_upload_key(bucket, upload_id)) if _valid_id(upload_id) else None
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
        pkey = _part_key(upload_id, part.number)
        for _ in range(MAX_RETRIES):
            _, uraw = await self.get(bucket, key, upload_id)
            old_raw = await self.kv.get(pkey)
            txn = Txn().expect(_upload_key(bucket, upload_id), uraw).expect(pkey, old_raw)
            txn.put(pkey, part.to_bytes())
            delta: Counter[bytes] = Counter(h for h, _ in part.blocks)
            if old_raw is not None:
                delta.subtract(h for h, _ in Part.from_bytes(old_raw).blocks)
            await self.meta.apply_refcounts(txn, delta, observed)
            try:
                await self.kv.commit(txn)
                return
            except TxnConflict:
                await self.meta.refresh_observed(observed)
        raise MetaError("too many conflicting writers")

    async def parts(
        self, upload_id: str, after: int = 0, limit: int = 10_000
    ) -> list[tuple[Part, bytes]]:
        prefix = _part_prefix(upload_id)
        rows = await self.kv.scan(prefix + keys.u32(after + 1), keys.prefix_end(prefix), limit)
        return [(Part.from_bytes(raw), raw) for _, raw in rows]

    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        for _ in range(MAX_RETRIES):
            _, uraw = await self.get(bucket, key, upload_id)
            txn = Txn().expect(_upload_key(bucket, upload_id), uraw)
            txn.delete(_upload_key(bucket, upload_id))
            delta: Counter[bytes] = Counter()
            for part, praw in await self.parts(upload_id):
                pkey = _part_key(upload_id, part.number)
                txn.expect(pkey, praw).delete(pkey)
                delta.subtract(h for h, _ in part.blocks)
            await self.meta.apply_refcounts(txn, delta, {})
            try:
                await self.kv.commit(txn)
                return
            except TxnConflict:
                continue
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

        In the same transaction: the upload and every part record go (unused parts drop
        their block references), and a completion record stays for retried requests.
        """
        bucket, upload_id = upload.bucket, upload.upload_id
        ukey = _upload_key(bucket, upload_id)

        used_raw = {part.number: raw for part, raw in used}

        async def extra(txn: Txn) -> Counter[bytes]:
            if await self.kv.get(ukey) != upload_raw:
                raise UploadNotFound(upload_id)  # aborted or completed meanwhile
            txn.expect(ukey, upload_raw).delete(ukey)
            delta: Counter[bytes] = Counter()
            for part, praw in await self.parts(upload_id):
                if part.number in used_raw and used_raw[part.number] != praw:
                    raise PartChanged(part.number)
                pkey = _part_key(upload_id, part.number)
                txn.expect(pkey, praw).delete(pkey)
                delta.subtract(h for h, _ in part.blocks)
            done = msgpack.packb([bucket, upload.key, head.etag, head.version], use_bin_type=True)
            txn.put(DONE + bytes.fromhex(upload_id), done)
            return delta

        # The used parts' records are compared in extra(); their blocks are referenced, so
        # no block can vanish before the commit.
        await self.meta.put_object(bucket, head, {}, condition, extra=extra)
        return head

    async def completed(self, bucket: str, key: str, upload_id: str) -> tuple[str, bytes] | None:
        """(etag, version) if this upload was completed into bucket/key: for retries."""
        if not _valid_id(upload_id):
            return None
        raw = await self.kv.get(DONE + bytes.fromhex(upload_id))
        if raw is None:
            return None
        b, k, etag, version = msgpack.unpackb(raw, raw=False)
        return (etag, version) if (b, k) == (bucket, key) else None

    async def list(self, bucket: str) -> list[Upload]:
        """Every open upload of a bucket, sorted by key then initiation (S3's order)."""
        if await self.meta.get_bucket(bucket) is None:
            raise BucketNotFound(bucket)
        prefix = keys.UPLOAD + bucket.encode() + b"\0"
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
