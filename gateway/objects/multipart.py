"""Multipart uploads: create, parts (uploaded or copied), listings, abort; Complete is in
gateway/objects/complete.py.

Parts are stored like objects but always as blocks, never inline, since a completed
object's block list is the concatenation of its parts'.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from gateway import checksums as checksum_algorithms
from gateway.objects import crypt, sse
from gateway.objects.complete import Completion
from gateway.objects.lock import as_record as lock_record
from gateway.objects.types import (
    Completed,
    ObjectAttrs,
    PartInfo,
    PartsPage,
    RequestedPart,
    SseRequest,
    StoredObject,
    UploadInfo,
    UploadsPage,
    Verify,
    WriteCondition,
)
from gateway.objects.upload_listing import page_uploads
from meta.errors import UploadNotFound
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
        encryption: SseRequest | None = None,
    ) -> UploadInfo:
        """An upload whose parts will be stored encrypted under one data key when
        ``encryption`` asks for it (its wrapped form is kept in the upload record)."""
        made = sse.new_key(self.objects.keys, encryption) if encryption else None
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
            sse=made.record if made else None,
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
        encryption: SseRequest | None = None,
    ) -> PartInfo:
        """Store body as part ``number``, replacing one with that number; an encrypted
        upload's part under its data key (SSE-C: ``encryption`` must give the same key)."""
        dk = self.data_key(upload, encryption)
        cipher = crypt.cipher(dk) if dk is not None else None
        stored = await self.objects.store_body(body, inline=False, cipher=cipher)
        if verify is not None:
            verify(stored.size, stored.md5)
        sums = dict(checksums()) if checksums is not None else {}
        etag = sse.etag(stored.md5, sse.mode_of(upload.sse), dk)
        part = Part(number, etag, stored.size, stored.blocks, checksums=sums)
        await self.uploads.put_part(
            upload.bucket, upload.key, upload.upload_id, part, stored.observed
        )
        return _part_info(part)

    async def check_key(
        self, bucket: str, key: str, upload_id: str, given: SseRequest | None
    ) -> dict[str, Any] | None:
        """Complete of an SSE-C upload must give its key (as the Ceph suite and RGW
        expect); the upload's SSE record, or None when it is plaintext or already gone."""
        try:
            upload, _ = await self.uploads.get(bucket, key, upload_id)
        except UploadNotFound:
            return None
        self.data_key(_info(upload), given)
        return upload.sse

    def data_key(self, upload: UploadInfo, encryption: SseRequest | None) -> bytes | None:
        """The data key of an upload's parts (None: plaintext); SSE-C checks the key."""
        return sse.part_data_key(self.objects.keys, upload.sse, encryption)

    async def copy_part(
        self,
        upload: UploadInfo,
        number: int,
        source: StoredObject,
        start: int,
        end: int,
        *,
        encryption: SseRequest | None = None,
        source_encryption: SseRequest | None = None,
    ) -> PartInfo:
        """The bytes [start, end) of source as part ``number``, with the upload's checksum;
        an encrypted source is read with its key, an encrypted upload's part sealed."""
        src_dk = self.objects.data_key(source, source_encryption)
        dk = self.data_key(upload, encryption)
        alg = upload.checksum_algorithm
        summer = checksum_algorithms.new(alg) if alg else None
        also = summer.update if summer is not None else None
        stored = await self.objects.store_range(
            source, start, end, also,
            data_key=src_dk, cipher=crypt.cipher(dk) if dk is not None else None,
        )  # fmt: skip
        etag = sse.etag(stored.md5, sse.mode_of(upload.sse), dk)
        part = Part(number, etag, stored.size, stored.blocks)
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
        u.owner, u.sse,
    )  # fmt: skip


def _part_info(p: Part) -> PartInfo:
    return PartInfo(p.number, p.etag, p.size, p.mtime_ms, p.checksums)
