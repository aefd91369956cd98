"""Multipart uploads: create, parts (uploaded or copied), listings, abort; Complete is in
gateway/objects/complete.py.

Parts are stored like objects but always as blocks, never inline, since a completed
object's block list is the concatenation of its parts'.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Sequence
from typing import TYPE_CHECKING

from gateway import checksums as checksum_algorithms
from gateway.objects.complete import Completion
from gateway.objects.lock import as_record as lock_record
from gateway.objects.types import (
    Completed,
    ObjectAttrs,
    PartInfo,
    PartsPage,
    RequestedPart,
    StoredObject,
    UploadInfo,
    UploadsPage,
    Verify,
    WriteCondition,
)
from gateway.objects.upload_listing import page_uploads
from meta.records import Part, Upload
from meta.uploads import Uploads

if TYPE_CHECKING:
    from gateway.objects.service import ObjectService


class Multipart:
    def __init__(self, objects: ObjectService, uploads: Uploads) -> None:
        self.objects = objects
        self.uploads = uploads
        self.completion = Completion(objects.meta, uploads)

    async def create(
        self,
        bucket: str,
        key: str,
        attrs: ObjectAttrs,
        checksum_algorithm: str | None,
        checksum_type: str | None,
    ) -> UploadInfo:
        upload = Upload(
            "",
            bucket,
            key,
            headers=attrs.headers,
            user_meta=attrs.user_meta,
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
            owner=attrs.owner,
            acl=attrs.acl,
            tags=attrs.tags,
            lock=lock_record(attrs.lock),
        )
        if attrs.lock is not None:  # refused now rather than at Complete
            await self.objects.locks.require(bucket)
        return _info(await self.uploads.create(upload))

    async def upload(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        """The open upload (UploadNotFound, BucketNotFound otherwise)."""
        upload, _ = await self.uploads.get(bucket, key, upload_id)
        return _info(upload)

    async def upload_part(
        self,
        upload: UploadInfo,
        number: int,
        body: AsyncIterable[bytes],
        *,
        verify: Verify | None = None,
        checksums: Callable[[], dict[str, str]] | None = None,
    ) -> PartInfo:
        """Store body as part ``number``, replacing one with that number."""
        stored = await self.objects.store_body(body, inline=False)
        if verify is not None:
            verify(stored.size, stored.md5)
        sums = dict(checksums()) if checksums is not None else {}
        part = Part(number, stored.md5.hex(), stored.size, stored.blocks, checksums=sums)
        await self.uploads.put_part(
            upload.bucket, upload.key, upload.upload_id, part, stored.observed
        )
        return _part_info(part)

    async def copy_part(
        self, upload: UploadInfo, number: int, source: StoredObject, start: int, end: int
    ) -> PartInfo:
        """The bytes [start, end) of source as part ``number``, with the upload's checksum."""
        alg = upload.checksum_algorithm
        summer = checksum_algorithms.new(alg) if alg else None
        also = summer.update if summer is not None else None
        stored = await self.objects.store_range(source, start, end, also)
        part = Part(number, stored.md5.hex(), stored.size, stored.blocks)
        if summer is not None:
            part.checksums = {summer.name: summer.digest_b64()}
        await self.uploads.put_part(
            upload.bucket, upload.key, upload.upload_id, part, stored.observed
        )
        return _part_info(part)

    async def complete(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        requested: Sequence[RequestedPart],
        condition: WriteCondition | None = None,
        checksum: tuple[str, str] | None = None,
    ) -> Completed:
        return await self.completion.complete(
            bucket, key, upload_id, requested, condition, checksum
        )

    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        await self.uploads.abort(bucket, key, upload_id)

    async def list_parts(self, upload: UploadInfo, marker: int, max_parts: int) -> PartsPage:
        rows = await self.uploads.parts(upload.upload_id, after=marker, limit=max_parts + 1)
        parts = [_part_info(p) for p, _ in rows[:max_parts]]
        return PartsPage(parts, len(rows) > max_parts)

    async def list_uploads(
        self,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        id_marker: str,
        max_uploads: int,
    ) -> UploadsPage:
        listed = await self.uploads.list(bucket)
        uploads, prefixes, truncated = page_uploads(
            listed, prefix, delimiter, key_marker, id_marker, max_uploads
        )
        return UploadsPage([_info(u) for u in uploads], prefixes, truncated)


def _info(u: Upload) -> UploadInfo:
    return UploadInfo(
        u.upload_id, u.bucket, u.key, u.initiated_ms, u.checksum_algorithm, u.checksum_type,
        u.owner,
    )  # fmt: skip


def _part_info(p: Part) -> PartInfo:
    return PartInfo(p.number, p.etag, p.size, p.mtime_ms, p.checksums)
