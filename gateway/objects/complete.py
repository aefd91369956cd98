"""CompleteMultipartUpload: the named parts checked, the multipart ETag and checksum made,
and one transaction that turns the upload into the object's current version.

A part uploaded again while Complete runs changes the upload record, so the commit fails
with PartChanged and the parts are read again. An upload that is gone may have been
completed by a concurrent or earlier request for the same upload: that one's answer is
given again, as S3 does for retries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from gateway import checksums
from gateway.errors import (
    EntityTooSmall,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
    SlowDown,
)
from gateway.objects.types import Completed, RequestedPart, WriteCondition
from meta.errors import PartChanged, UploadNotFound
from meta.records import ObjectHead, Part, Upload
from meta.store import MetaStore
from meta.uploads import Uploads

MIN_PART_SIZE = 5 << 20
RETRIES = 16  # rounds of PartChanged before the client is told to retry (SlowDown)


class Completion:
    def __init__(self, meta: MetaStore, uploads: Uploads) -> None:
        self.meta = meta
        self.uploads = uploads

    async def complete(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        requested: Sequence[RequestedPart],
        condition: WriteCondition | None,
        checksum: tuple[str, str] | None = None,
    ) -> Completed:
        """``checksum``: the (algorithm, value) the client declared for the whole object;
        it is checked against the parts' before anything is committed."""
        for _ in range(RETRIES):
            try:
                return await self._once(bucket, key, upload_id, requested, condition, checksum)
            except PartChanged:
                continue  # a part was uploaded meanwhile: read the parts again
        raise SlowDown()

    async def _once(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        requested: Sequence[RequestedPart],
        condition: WriteCondition | None,
        checksum: tuple[str, str] | None,
    ) -> Completed:
        try:
            upload, upload_raw = await self.uploads.get(bucket, key, upload_id)
        except UploadNotFound:
            return await self._gone(bucket, key, upload_id)
        stored = {p.number: (p, raw) for p, raw in await self.uploads.parts(upload_id)}
        if any(r.number not in stored for r in requested) and await self._upload_gone(
            bucket, key, upload_id
        ):
            # A concurrent Complete of the same upload won the race and took the parts:
            # answer as that one did (or NoSuchUpload if it was aborted).
            return await self._gone(bucket, key, upload_id)
        used = chosen_parts(upload_id, requested, stored)
        head = object_head(key, upload, [p for p, _ in used])
        if checksum is not None:
            checksums.verify_object_checksum(checksum, head.checksums, upload.checksum_algorithm)
        check_part_checksums(upload, requested)
        try:
            await self.uploads.complete(upload, upload_raw, head, used, condition)
        except UploadNotFound:
            return await self._gone(bucket, key, upload_id)
        vid = head.vid if head.vid != "null" else None  # set by the commit when versioned
        return Completed(head.etag, head.checksums, head.checksum_type, vid)

    async def _upload_gone(self, bucket: str, key: str, upload_id: str) -> bool:
        try:
            await self.uploads.get(bucket, key, upload_id)
            return False
        except UploadNotFound:
            return True

    async def _gone(self, bucket: str, key: str, upload_id: str) -> Completed:
        """The upload no longer exists: a Complete that already succeeded answers again as
        it did (a retry, or a concurrent duplicate); otherwise UploadNotFound."""
        done = await self.uploads.completed(bucket, key, upload_id)
        if done is None:
            raise UploadNotFound(upload_id)
        etag, version = done
        # With the object's checksum while that version is still the current one.
        sums: dict[str, str] = {}
        ctype = None
        try:
            head = await self.meta.get_object(bucket, key)
            if head.version == version:
                sums, ctype = head.checksums, head.checksum_type
        except Exception:  # noqa: BLE001 - the object may be gone since: the retry still succeeded
            pass
        return Completed(etag, sums, ctype)


def chosen_parts(
    upload_id: str,
    requested: Sequence[RequestedPart],
    stored: dict[int, tuple[Part, bytes]],
) -> list[tuple[Part, bytes]]:
    """The stored parts the request names, in its order, after S3's checks: ascending
    numbers, matching ETags and checksums, every part but the last at least 5 MiB.

    A number named again right after itself names one part, by its last entry: a client
    that sent a part twice (a retry, or two uploads racing) may list both answers, and only
    the upload that finished last is the part (as RGW reads the list, a map by number)."""
    named: list[RequestedPart] = []
    for req in requested:
        if req.number < 1 or (named and req.number < named[-1].number):
            raise InvalidPartOrder()
        if named and req.number == named[-1].number:
            named[-1] = req
        else:
            named.append(req)
    used: list[tuple[Part, bytes]] = []
    for i, req in enumerate(named):
        found = stored.get(req.number)
        if found is None or found[0].etag != req.etag:
            raise InvalidPart(UploadId=upload_id, PartNumber=str(req.number), ETag=req.etag)
        part = found[0]
        for alg, value in req.checksums.items():
            if part.checksums.get(alg) not in (None, value):
                raise InvalidPart(f"The checksum of part {req.number} does not match.")
        if i < len(named) - 1 and part.size < MIN_PART_SIZE:
            raise EntityTooSmall(
                ProposedSize=str(part.size),
                MinSizeAllowed=str(MIN_PART_SIZE),
                PartNumber=str(req.number),
                ETag=req.etag,
            )
        used.append(found)
    return used


def check_part_checksums(upload: Upload, requested: Sequence[RequestedPart]) -> None:
    """AWS's rules for the part list of an upload made with a checksum algorithm: the
    numbers start at 1 and follow each other (InvalidPartOrder), and for a COMPOSITE
    checksum each part names its checksum, since the object's is made from them
    (InvalidRequest). Checked after the declared whole-object value, as that one's
    mismatch (BadDigest) says more."""
    alg = upload.checksum_algorithm
    if alg is None:
        return
    numbers = sorted({r.number for r in requested})
    if numbers != list(range(1, len(numbers) + 1)):
        raise InvalidPartOrder()
    if upload.checksum_type != "COMPOSITE":
        return
    for r in requested:
        if alg not in r.checksums:
            raise InvalidRequest(
                f"The upload was created using a {alg.lower()} checksum. The complete "
                "request must include the checksum for each part. It was missing for part "
                f"{r.number} in the request."
            )


def object_head(key: str, upload: Upload, parts: list[Part]) -> ObjectHead:
    """The completed object: the parts' blocks in order, the multipart ETag (the MD5 of
    the parts' MD5s, then "-" and the part count) and the combined checksum."""
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts)).hexdigest()
    head = ObjectHead(
        key,
        size=sum(p.size for p in parts),
        etag=f"{digest}-{len(parts)}",
        headers=upload.headers,
        user_meta=upload.user_meta,
        blocks=[b for p in parts for b in p.blocks],
        parts=[p.size for p in parts],
        owner=upload.owner,
        acl=upload.acl,
    )
    head.set_tags(upload.tags)
    head.extra.update(upload.lock)  # the upload's own object lock (meta.lock entries)
    head.set_sse(upload.sse)  # the parts were sealed under the upload's data key
    sums = _object_checksum(upload, parts)
    if sums:
        head.checksums, head.checksum_type = sums, upload.checksum_type
        alg = next(iter(sums))
        head.part_checksums = checksums.pack_part_checksums(alg, [p.checksums[alg] for p in parts])
    return head


def _object_checksum(upload: Upload, parts: list[Part]) -> dict[str, str]:
    alg = upload.checksum_algorithm
    if alg is None or not all(alg in p.checksums for p in parts):
        return {}
    if upload.checksum_type == "FULL_OBJECT":
        return {
            alg: checksums.combine_full_object(alg, [(p.checksums[alg], p.size) for p in parts])
        }
    return {alg: checksums.combine_composite(alg, [p.checksums[alg] for p in parts])}
