"""The object service: where S3 requests become blocks and metadata transactions.

It knows nothing of HTTP or S3 wire formats, and it is the gateway's one door to storage:
handlers reach buckets, listings and multipart uploads through the parts it holds
(``buckets``, ``listing``, ``multipart``). A PUT streams the body into fixed-size blocks
(gateway/objects/body.py), then commits the object head in one metadata transaction:
before the commit nothing is visible, after it the object is readable and listed.

Errors: exceptions of meta and blockstore pass through untouched to
gateway.errors.from_internal, the one place that maps them; the service raises S3 errors
itself only for rules it checks (part order, sizes, copy limits).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, cast

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from blockstore.cluster.replicated import ReplicatedBlocks
from gateway.errors import InvalidRequest
from gateway.objects import crypt, sse
from gateway.objects.body import OVERLAP_BODIES, BlockCutter, StoredBody, one_piece
from gateway.objects.buckets import Buckets
from gateway.objects.listing import Listing
from gateway.objects.lock import Locks
from gateway.objects.lock import apply as apply_lock
from gateway.objects.multipart import Multipart
from gateway.objects.range_copy import RangeCopy
from gateway.objects.types import (
    Bypass,
    Deleted,
    DeleteOutcome,
    ObjectAccess,
    ObjectAttrs,
    ObjectLock,
    ReadCondition,
    SseRequest,
    StoredObject,
    Verify,
    VersionsPage,
    WriteCondition,
)
from meta import audit, datakeys
from meta.errors import (
    BucketNotFound,
    DeleteMarkerFound,
    InvalidVersionId,
    ObjectNotFound,
    VersionNotFound,
)
from meta.lock import ObjectLocked
from meta.records import BlockRef, ObjectHead, now_ms
from meta.store import MetaStore
from meta.uploads import Uploads

DEFAULT_BLOCK_SIZE = 4 << 20
DEFAULT_INLINE_MAX = 64 << 10

__all__ = ["DEFAULT_BLOCK_SIZE", "DEFAULT_INLINE_MAX", "ObjectService", "StoredBody"]


class ObjectService:
    def __init__(
        self,
        meta: MetaStore,
        blocks: ReplicatedBlocks,
        block_size: int = DEFAULT_BLOCK_SIZE,
        inline_max: int = DEFAULT_INLINE_MAX,
        keys: sse.Keys | None = None,
    ) -> None:
        self.meta = meta
        self.keys = keys  # the master keyring (SSE-S3, SSE-KMS); None: those refused
        self.blocks = blocks
        self.block_size = block_size
        self.inline_max = inline_max
        self.bodies_running = 0  # store_body calls under way
        self.bodies_started = 0
        uploads = Uploads(meta)
        self.buckets = Buckets(meta, uploads)
        self.listing = Listing(meta)
        self.multipart = Multipart(self, uploads)
        self.locks = Locks(meta)

    # ------------------------------------------------------------------ write

    async def store_body(
        self,
        body: AsyncIterable[bytes | bytearray | memoryview],
        *,
        inline: bool = True,
        cipher: AESGCM | None = None,
    ) -> StoredBody:
        """Cut body into blocks and store them; nothing refers to them until a commit.

        ``inline=False`` (multipart parts) always makes blocks, since a completed object
        is the concatenation of its parts' block lists. With a ``cipher`` the blocks (and
        inline bytes) are stored encrypted (gateway/objects/crypt.py)."""
        cut = BlockCutter(
            self.meta,
            self.blocks,
            self.block_size,
            self.inline_max if inline else -1,
            self._busy,
            cipher,
        )
        self.bodies_running += 1
        self.bodies_started += 1
        try:
            async for piece in body:
                cut.total += len(piece)
                rest: memoryview | None = memoryview(piece)
                while rest:
                    rest = cut.take(rest)
                    if cut.full:
                        await cut.hand_off()
            return await cut.finish()
        finally:
            self.bodies_running -= 1
            cut.cancel()

    def _busy(self) -> bool:
        return self.bodies_running > OVERLAP_BODIES

    async def put_object(
        self,
        bucket: str,
        key: str,
        body: AsyncIterable[bytes],
        attrs: ObjectAttrs | None = None,
        *,
        verify: Verify | None = None,
        checksums: Callable[[], dict[str, str]] | None = None,
        condition: WriteCondition | None = None,
        encryption: SseRequest | None = None,
    ) -> StoredObject:
        """Store body and commit it as the current version of bucket/key.

        ``verify`` may refuse the stored body (then nothing becomes visible and the blocks
        are left for GC); ``checksums`` are asked for once the body has been read, since
        a trailer brings them after the last byte. ``encryption``: stored encrypted under a
        new data key, whose wrapped form the head keeps.
        """
        key_ = sse.new_key(self.keys, encryption) if encryption is not None else None
        attrs = attrs or ObjectAttrs()
        head = ObjectHead(
            key, headers=attrs.headers, user_meta=attrs.user_meta, owner=attrs.owner, acl=attrs.acl
        )  # mtime: now
        head.set_tags(attrs.tags)
        apply_lock(head, attrs.lock)
        if attrs.lock is not None:  # refused before the body is read; again at commit
            await self.locks.require(bucket)
        if condition is not None:  # fail fast before reading the body; re-checked at commit
            await self._precheck(bucket, key, condition)
        stored = await self.store_body(body, cipher=key_.cipher if key_ else None)
        head.size = stored.size
        head.set_sse(key_.record if key_ else None)
        head.etag = sse.etag(stored.md5, sse.mode_of(head.sse), key_.data_key if key_ else None)
        head.inline = stored.inline
        head.blocks = stored.blocks if stored.inline is None else None
        if verify is not None:
            verify(stored.size, stored.md5)
        if checksums is not None:
            head.checksums = dict(checksums())
            head.checksum_type = "FULL_OBJECT" if head.checksums else None
        await self.meta.put_object(bucket, head, stored.observed, condition)
        return head

    async def _precheck(self, bucket: str, key: str, condition: WriteCondition) -> None:
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
        dst_key: str,
        *,
        replace: Callable[[], ObjectAttrs] | None = None,
        source_condition: ReadCondition | None = None,
        condition: WriteCondition | None = None,
        access: ObjectAttrs | None = None,
        src_version: str | None = None,
        tags: dict[str, str] | None = None,
        lock: ObjectLock | None = None,
        encryption: SseRequest | None = None,
        source_encryption: SseRequest | None = None,
    ) -> tuple[StoredObject, StoredObject]:
        """Copy by reference: the new version shares the source's blocks, no bytes move.
        Returns (the new version, the source version).

        Without ``replace`` the copy keeps the source's headers, metadata and checksums;
        ``replace`` is asked only once the source passed ``source_condition``, so a missing
        or unmatched source is reported before anything wrong with the new metadata.
        ``tags``: the copy's tags (x-amz-tagging-directive REPLACE); None keeps the
        source's (COPY, the default). ``lock``: the copy's own object lock; a source's
        lock is never copied (the bucket's default retention applies instead).
        ``encryption``: the copy's (None: plaintext); ``source_encryption`` carries the
        source's SSE-C key. Between modes of one ETag kind the copy shares the source's
        blocks and wraps its data key anew (see _may_share); otherwise the bytes are
        read, decrypted and stored again."""
        src, src_raw, src_stored = await self._source(src_bucket, src_key, src_version)
        if source_condition is not None:
            source_condition(src)
        src_dk = sse.data_key(self.keys, src.sse, source_encryption)
        if replace is not None:
            attrs = replace()
            head = ObjectHead(
                dst_key, headers=attrs.headers, user_meta=attrs.user_meta, mtime_ms=now_ms()
            )
        else:
            head = ObjectHead(
                dst_key,
                headers=dict(src.headers),
                user_meta=dict(src.user_meta),
                checksums=dict(src.checksums),
                checksum_type=src.checksum_type,
                part_checksums=src.part_checksums,
                mtime_ms=now_ms(),
            )
        head.set_tags(src.tags if tags is None else tags)
        apply_lock(head, lock)
        if access is not None:  # the copy's owner and ACL (the writer's, not the source's)
            head.owner, head.acl = access.owner, access.acl
        observed: dict[bytes, bytes] = {}
        if _may_share(src.sse, source_encryption, encryption):
            head.size, head.etag, head.inline = src.size, src.etag, src.inline
            head.parts = src.parts
            head.blocks = list(await self.meta.block_list(src)) if src.inline is None else None
            if encryption is not None:  # the same data key, wrapped for the copy's mode
                head.set_sse(sse.new_key(self.keys, encryption, src_dk).record)
        else:
            observed = await self._recrypt(src, src_dk, head, encryption)
        await self.meta.put_object(
            dst_bucket, head, observed, condition, source=(src_stored, src_raw)
        )
        return head, src

    async def _recrypt(
        self,
        src: ObjectHead,
        src_dk: bytes | None,
        head: ObjectHead,
        encryption: SseRequest | None,
    ) -> dict[bytes, bytes]:
        """A copy between encryption kinds: the source's plaintext stored anew."""
        key_ = sse.new_key(self.keys, encryption) if encryption is not None else None
        stored = await self.store_body(
            self.read(src, 0, None, src_dk), cipher=key_.cipher if key_ else None
        )
        head.size, head.inline = stored.size, stored.inline
        head.blocks = stored.blocks if stored.inline is None else None
        head.set_sse(key_.record if key_ else None)
        head.etag = sse.etag(stored.md5, dst_mode_of(key_), key_.data_key if key_ else None)
        return stored.observed

    async def _source(
        self, bucket: str, key: str, version_id: str | None
    ) -> tuple[ObjectHead, bytes, bytes]:
        """A copy's source version; a delete marker named by id is refused as S3 refuses
        it (one that is merely current answers NoSuchKey, as a GET would)."""
        try:
            return await self.meta.get_version(bucket, key, version_id)
        except DeleteMarkerFound as exc:
            if not exc.by_id:
                raise
            raise InvalidRequest(
                "The source of a copy request may not specifically refer to a delete marker "
                "by version id."
            ) from None

    async def copy_source(self, bucket: str, key: str, version_id: str | None) -> StoredObject:
        """The version an UploadPartCopy reads (as CopyObject's source)."""
        return (await self._source(bucket, key, version_id))[0]

    def has_kms_key(self, name: str) -> bool:
        """Whether the keyring holds a KMS key of that name (bucket defaults name one)."""
        return self.keys is not None and (
            name in dict(self.keys().kms) or name in dict(sse.fresh(self.keys).kms)
        )

    def data_key(self, obj: StoredObject, given: SseRequest | None) -> bytes | None:
        """The data key a read of ``obj`` needs (None: plaintext), after AWS's checks of
        the SSE-C key ``given`` (missing, wrong, or given for an object without one)."""
        return sse.data_key(self.keys, obj.sse, given)

    async def store_range(
        self,
        source: StoredObject,
        start: int,
        end: int,
        also: Callable[[bytes | bytearray], None] | None = None,
        *,
        data_key: bytes | None = None,
        cipher: AESGCM | None = None,
    ) -> StoredBody:
        """The bytes [start, end) of a version as a part: blocks that lie wholly inside the
        range are shared, only the partial blocks at its edges are written anew. The bytes
        are still read, since the part's ETag is their MD5; ``also`` sees them in the same
        pass (the part's checksum), so they are read once."""
        src = cast(ObjectHead, source)
        if src.sse is not None or cipher is not None:  # no block can be shared: re-encrypt
            return await self._store_read_range(src, start, end, also, data_key, cipher)
        if src.inline is not None:
            if also is not None:
                also(src.inline[start:end])
            return await self.store_body(one_piece(src.inline[start:end]), inline=False)
        return await RangeCopy(self, start, end, also).run(await self.meta.block_list(src))

    async def _store_read_range(
        self,
        src: ObjectHead,
        start: int,
        end: int,
        also: Callable[[bytes | bytearray], None] | None,
        data_key: bytes | None,
        cipher: AESGCM | None,
    ) -> StoredBody:
        async def plaintext() -> AsyncIterator[bytes | bytearray | memoryview]:
            async for piece in self.read(src, start, end, data_key):
                if also is not None:
                    also(bytes(piece))
                yield piece

        return await self.store_body(plaintext(), inline=False, cipher=cipher)

    # ----------------------------------------------------------- read, delete

    async def get_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> StoredObject:
        """The current version, or the one version_id names ("null" included)."""
        if version_id is None:
            try:
                return await self.meta.get_object(bucket, key)  # the hot path: one read
            except ObjectNotFound:
                pass  # a delete marker may hide it: answered with its headers
        return (await self.meta.get_version(bucket, key, version_id))[0]

    async def read(
        self,
        obj: StoredObject,
        start: int = 0,
        end: int | None = None,
        data_key: bytes | None = None,
    ) -> AsyncIterator[bytes]:
        """The bytes [start, end) of a version; the next block is fetched while one is sent.
        An encrypted version needs its ``data_key`` (``data_key()``): only the chunks that
        hold the range are read and decrypted."""
        head = cast(ObjectHead, obj)  # the service handed it out: one of its own records
        end = head.size if end is None else min(end, head.size)
        cipher = None
        if head.sse is not None:
            if data_key is None:
                raise ValueError("an encrypted version is read with its data key")
            cipher = crypt.cipher(data_key)
        if start >= end:
            return
        if head.inline is not None:
            if cipher is None:
                yield head.inline[start:end]
            else:
                yield crypt.open_span(cipher, head.inline, head.size, start, end)
            return
        wanted = _pieces(await self.meta.block_list(head), start, end)

        def fetch(piece: tuple[bytes, int, int, int]) -> asyncio.Future[bytes | memoryview]:
            bid, s, e, size = piece
            if cipher is None:
                return asyncio.ensure_future(self.blocks.get(bid, s, e))
            cs, ce, _ = crypt.sealed_span(size, s, e)
            return asyncio.ensure_future(
                self.blocks.get(bid, cs, ce, sse.opener(cipher, size, s, e))
            )

        nxt: asyncio.Future[bytes | memoryview] | None = None
        try:
            for i, piece in enumerate(wanted):
                cur = nxt if nxt is not None else fetch(piece)
                nxt = None
                if i + 1 < len(wanted):
                    nxt = fetch(wanted[i + 1])
                data = await cur
                del cur  # the block's buffer goes back to the pool once the socket sent it
                yield data
                del data
        finally:
            if nxt is not None:
                nxt.cancel()

    async def object_access(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectAccess | None:
        """The current (or named) version's owner and ACL; None when there is no such
        version, or it is a delete marker (the handler then answers as S3 does)."""
        try:
            if version_id is None:
                return await self.meta.get_object(bucket, key)
            return (await self.meta.get_version(bucket, key, version_id))[0]
        except (ObjectNotFound, VersionNotFound, DeleteMarkerFound, InvalidVersionId):
            return None

    async def set_object_acl(
        self, bucket: str, key: str, acl: dict[str, Any], version_id: str | None = None
    ) -> None:
        """Replace the current (or named) version's ACL (PutObjectAcl); the version stays
        the same."""

        def change(head: ObjectHead) -> None:
            head.acl = acl

        await self.meta.update_object(bucket, key, change, version_id)

    async def set_object_tags(
        self, bucket: str, key: str, tags: dict[str, str], version_id: str | None = None
    ) -> StoredObject:
        """Replace the current (or named) version's tags (Put/DeleteObjectTagging); the
        version stays the same. Both indexes that hold the record change together."""

        def change(head: ObjectHead) -> None:
            head.set_tags(tags)

        return await self.meta.update_object(bucket, key, change, version_id)

    async def audit(self, who: str, action: str, target: str) -> None:
        """Add an entry to the audit trail (meta.audit): an access change was made."""
        await audit.record(self.meta.kv, who, action, target)

    async def delete_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        owner: str = "",
        bypass: Bypass | None = None,
    ) -> Deleted:
        """Without a version id: remove the object, or on a versioned bucket hide it
        behind a delete marker (``owner`` owns the marker). With one: remove that version
        for good (its blocks go to GC once no other version refers to them), unless
        object lock protects it (meta.lock.ObjectLocked); ``bypass`` is asked when a
        GOVERNANCE retention stands in the way."""
        if version_id is not None:
            removed = await self._delete_version(bucket, key, version_id, bypass)
            marker = removed is not None and removed.marker
            return Deleted(key, version_id, marker, version_id if marker else None)
        _, made = await self.meta.delete_current(bucket, key, owner)
        if made is None:
            return Deleted(key)
        return Deleted(key, None, True, made.vid)

    async def _delete_version(
        self, bucket: str, key: str, version_id: str, bypass: Bypass | None
    ) -> StoredObject | None:
        try:
            return await self.meta.delete_version(bucket, key, version_id)
        except ObjectLocked:
            if bypass is None or not await bypass(key, version_id):
                raise
        return await self.meta.delete_version(bucket, key, version_id, bypass_governance=True)

    async def expire_version(self, bucket: str, key: str, version_id: str) -> bool:
        """Lifecycle's one way to remove a version for good: False (and nothing changes)
        when object lock protects it, which expiry never bypasses; True once it is gone.
        Lifecycle must remove versions through this (or meta.store.delete_version, which
        refuses the same way), never around it."""
        try:
            await self.meta.delete_version(bucket, key, version_id)
        except ObjectLocked:
            return False
        return True

    async def delete_objects(
        self,
        bucket: str,
        objects: list[tuple[str, str | None]],
        owner: str = "",
        bypass: Bypass | None = None,
    ) -> DeleteOutcome:
        """Each key deleted on its own; a key's failure is reported, not raised."""
        if await self.meta.get_bucket(bucket) is None:
            raise BucketNotFound(bucket)
        out = DeleteOutcome([], [])
        for key, version in objects:
            try:
                out.deleted.append(await self.delete_object(bucket, key, version, owner, bypass))
            except Exception as exc:  # noqa: BLE001 - reported per key, as S3 does
                out.failed.append((key, version, exc))
        return out

    async def versions(
        self,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        version_marker: str,
        max_keys: int,
    ) -> VersionsPage:
        """One page of ListObjectVersions (meta.versions)."""
        page = await self.meta.list_versions(
            bucket, prefix, delimiter, key_marker, version_marker, max_keys
        )
        return VersionsPage(page.entries, page.truncated, page.next_key, page.next_version)


def dst_mode_of(key_: sse.NewKey | None) -> str | None:
    return None if key_ is None else sse.mode_of(key_.record)


def _pieces(block_list: list[BlockRef], start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """(block id, start, end within the block, block size) of the blocks that hold
    [start, end)."""
    wanted: list[tuple[bytes, int, int, int]] = []
    offset = 0
    for bid, size in block_list:
        b_start, b_end = offset, offset + size
        offset = b_end
        if b_end <= start:
            continue
        if b_start >= end:
            break
        wanted.append((bid, max(start - b_start, 0), min(end, b_end) - b_start, size))
    return wanted


def _may_share(
    src_record: dict[str, Any] | None, src_req: SseRequest | None, dst_req: SseRequest | None
) -> bool:
    """Whether a copy may keep the source's blocks (and data key). Not across ETag kinds,
    and not into SSE-C under another customer key than the source's: copying an object
    onto a new key is how S3 users rotate SSE-C keys, and the old key (with the old
    record) must not open the new copy's bytes."""
    dst_mode = dst_req.mode if dst_req is not None else None
    if sse.etag_kind(dst_mode) != sse.etag_kind(sse.mode_of(src_record)):
        return False
    if dst_mode != datakeys.SSE_C or dst_req is None:
        return True
    return src_req is not None and src_req.customer_key == dst_req.customer_key
