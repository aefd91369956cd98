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

from blockstore.cluster.replicated import ReplicatedBlocks
from gateway.errors import InvalidRequest
from gateway.objects.body import OVERLAP_BODIES, BlockCutter, StoredBody, one_piece
from gateway.objects.buckets import Buckets
from gateway.objects.listing import Listing
from gateway.objects.multipart import Multipart
from gateway.objects.range_copy import RangeCopy
from gateway.objects.types import (
    Deleted,
    DeleteOutcome,
    ObjectAccess,
    ObjectAttrs,
    ReadCondition,
    StoredObject,
    Verify,
    VersionsPage,
    WriteCondition,
)
from meta.errors import (
    BucketNotFound,
    DeleteMarkerFound,
    InvalidVersionId,
    ObjectNotFound,
    VersionNotFound,
)
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
    ) -> None:
        self.meta = meta
        self.blocks = blocks
        self.block_size = block_size
        self.inline_max = inline_max
        self.bodies_running = 0  # store_body calls under way
        self.bodies_started = 0
        uploads = Uploads(meta)
        self.buckets = Buckets(meta, uploads)
        self.listing = Listing(meta)
        self.multipart = Multipart(self, uploads)

    # ------------------------------------------------------------------ write

    async def store_body(
        self, body: AsyncIterable[bytes | bytearray | memoryview], *, inline: bool = True
    ) -> StoredBody:
        """Cut body into blocks and store them; nothing refers to them until a commit.

        ``inline=False`` (multipart parts) always makes blocks, since a completed object
        is the concatenation of its parts' block lists."""
        cut = BlockCutter(
            self.meta,
            self.blocks,
            self.block_size,
            self.inline_max if inline else -1,
            self._busy,
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
    ) -> StoredObject:
        """Store body and commit it as the current version of bucket/key.

        ``verify`` may refuse the stored body (then nothing becomes visible and the blocks
        are left for GC); ``checksums`` are asked for once the body has been read, since
        a trailer brings them after the last byte.
        """
        attrs = attrs or ObjectAttrs()
        head = ObjectHead(
            key, headers=attrs.headers, user_meta=attrs.user_meta, owner=attrs.owner, acl=attrs.acl
        )  # mtime: now
        head.set_tags(attrs.tags)
        if condition is not None:  # fail fast before reading the body; re-checked at commit
            await self._precheck(bucket, key, condition)
        stored = await self.store_body(body)
        head.size = stored.size
        head.etag = stored.md5.hex()
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
    ) -> tuple[StoredObject, StoredObject]:
        """Copy by reference: the new version shares the source's blocks, no bytes move.
        Returns (the new version, the source version).

        Without ``replace`` the copy keeps the source's headers, metadata and checksums;
        ``replace`` is asked only once the source passed ``source_condition``, so a missing
        or unmatched source is reported before anything wrong with the new metadata.
        ``tags``: the copy's tags (x-amz-tagging-directive REPLACE); None keeps the
        source's (COPY, the default)."""
        src, src_raw, src_stored = await self._source(src_bucket, src_key, src_version)
        if source_condition is not None:
            source_condition(src)
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
        head.size, head.etag, head.inline = src.size, src.etag, src.inline
        head.parts = src.parts
        head.set_tags(src.tags if tags is None else tags)
        if access is not None:  # the copy's owner and ACL (the writer's, not the source's)
            head.owner, head.acl = access.owner, access.acl
        head.blocks = list(await self.meta.block_list(src)) if src.inline is None else None
        await self.meta.put_object(dst_bucket, head, {}, condition, source=(src_stored, src_raw))
        return head, src

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

    async def store_range(
        self,
        source: StoredObject,
        start: int,
        end: int,
        also: Callable[[bytes | bytearray], None] | None = None,
    ) -> StoredBody:
        """The bytes [start, end) of a version as a part: blocks that lie wholly inside the
        range are shared, only the partial blocks at its edges are written anew. The bytes
        are still read, since the part's ETag is their MD5; ``also`` sees them in the same
        pass (the part's checksum), so they are read once."""
        src = cast(ObjectHead, source)
        if src.inline is not None:
            if also is not None:
                also(src.inline[start:end])
            return await self.store_body(one_piece(src.inline[start:end]), inline=False)
        return await RangeCopy(self, start, end, also).run(await self.meta.block_list(src))

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
        self, obj: StoredObject, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes [start, end) of a version; the next block is fetched while one is sent."""
        head = cast(ObjectHead, obj)  # the service handed it out: one of its own records
        end = head.size if end is None else min(end, head.size)
        if start >= end:
            return
        if head.inline is not None:
            yield head.inline[start:end]
            return
        wanted = _pieces(await self.meta.block_list(head), start, end)
        nxt: asyncio.Task[bytes | memoryview] | None = None
        try:
            for i, (bid, s, e) in enumerate(wanted):
                cur = nxt if nxt is not None else asyncio.ensure_future(self.blocks.get(bid, s, e))
                nxt = None
                if i + 1 < len(wanted):
                    nb, ns, ne = wanted[i + 1]
                    nxt = asyncio.ensure_future(self.blocks.get(nb, ns, ne))
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

    async def delete_object(
        self, bucket: str, key: str, version_id: str | None = None, owner: str = ""
    ) -> Deleted:
        """Without a version id: remove the object, or on a versioned bucket hide it
        behind a delete marker (``owner`` owns the marker). With one: remove that version
        for good (its blocks go to GC once no other version refers to them)."""
        if version_id is not None:
            removed = await self.meta.delete_version(bucket, key, version_id)
            marker = removed is not None and removed.marker
            return Deleted(key, version_id, marker, version_id if marker else None)
        _, made = await self.meta.delete_current(bucket, key, owner)
        if made is None:
            return Deleted(key)
        return Deleted(key, None, True, made.vid)

    async def delete_objects(
        self, bucket: str, objects: list[tuple[str, str | None]], owner: str = ""
    ) -> DeleteOutcome:
        """Each key deleted on its own; a key's failure is reported, not raised."""
        if await self.meta.get_bucket(bucket) is None:
            raise BucketNotFound(bucket)
        out = DeleteOutcome([], [])
        for key, version in objects:
            try:
                out.deleted.append(await self.delete_object(bucket, key, version, owner))
            except Exception as exc:  # noqa: BLE001 - reported per key, as S3 does
                out.failed.append((key, exc))
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


def _pieces(block_list: list[BlockRef], start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(block id, start, end within the block) of the blocks that hold [start, end)."""
    wanted: list[tuple[bytes, int, int]] = []
    offset = 0
    for bid, size in block_list:
        b_start, b_end = offset, offset + size
        offset = b_end
        if b_end <= start:
            continue
        if b_start >= end:
            break
        wanted.append((bid, max(start - b_start, 0), min(end, b_end) - b_start))
    return wanted
