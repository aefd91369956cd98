"""CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
AbortMultipartUpload, ListParts, ListMultipartUploads."""

from __future__ import annotations

import hashlib

from starlette.responses import Response

from gateway import checksums
from gateway.context import RequestContext
from gateway.errors import (
    BadDigest,
    EntityTooLarge,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidRange,
    InvalidRequest,
    NoSuchUpload,
    SlowDown,
)
from gateway.handlers.copy import parse_copy_source
from gateway.handlers.object import MAX_PUT_SIZE, check_key, content_md5, declared_length
from gateway.wire import multipart as wire
from gateway.wire.headers import (
    check_read_conditions,
    quote_etag,
    stored_headers,
    user_metadata,
    write_condition,
)
from meta.records import ObjectHead
from meta.uploads import Part, PartChanged, Upload, UploadNotFound

MIN_PART_SIZE = 5 << 20
MAX_PARTS = 10_000


def _xml(body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type="application/xml", headers=headers)


def _owner(ctx: RequestContext) -> tuple[str, str]:
    return ctx.services.owner_id, ctx.services.owner_name


async def _upload(ctx: RequestContext) -> tuple[Upload, bytes]:
    try:
        return await ctx.services.uploads.get(ctx.bucket, ctx.key, ctx.query["uploadId"])
    except UploadNotFound:
        raise NoSuchUpload(UploadId=ctx.query["uploadId"]) from None


def _part_number(ctx: RequestContext) -> int:
    raw = ctx.query.get("partNumber", "")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PARTS:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return int(raw)


async def create_multipart_upload(ctx: RequestContext) -> Response:
    check_key(ctx.key)
    h = ctx.headers
    algorithm = h.get("x-amz-checksum-algorithm")
    ctype = h.get("x-amz-checksum-type")
    if algorithm is not None:
        algorithm = checksums.algorithm(algorithm).name
        if ctype is None:
            ctype = "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
    if ctype is not None:
        ctype = ctype.upper()
        if (
            algorithm is None
            or (ctype == "FULL_OBJECT" and algorithm not in checksums.FULL_OBJECT_ALGORITHMS)
            or (ctype == "COMPOSITE" and algorithm not in checksums.COMPOSITE_ALGORITHMS)
        ):
            raise InvalidRequest(
                f"The {ctype} checksum type cannot be used with the {algorithm} checksum algorithm."
            )
    upload = await ctx.services.uploads.create(
        Upload(
            "",
            ctx.bucket,
            ctx.key,
            headers=stored_headers(h),
            user_meta=user_metadata(h),
            checksum_algorithm=algorithm,
            checksum_type=ctype,
        )
    )
    out = {}
    if algorithm:
        out = {"x-amz-checksum-algorithm": algorithm, "x-amz-checksum-type": ctype or ""}
    return _xml(wire.initiate_result(upload), out)


async def upload_part(ctx: RequestContext) -> Response:
    number = _part_number(ctx)
    size = declared_length(ctx.headers)
    if size is not None and size > MAX_PUT_SIZE:
        raise EntityTooLarge()
    expected_md5 = content_md5(ctx.headers)
    upload, _ = await _upload(ctx)
    reader = ctx.body(check_md5=False)  # the part's ETag is its MD5: compared below
    stored = await ctx.services.objects.store_body(reader, inline=False)
    if expected_md5 is not None and stored.md5 != expected_md5:
        raise BadDigest()
    sums = dict(reader.checksums)
    part = Part(number, stored.md5.hex(), stored.size, stored.blocks, checksums=sums)
    try:
        await ctx.services.uploads.put_part(
            ctx.bucket, ctx.key, upload.upload_id, part, stored.observed
        )
    except UploadNotFound:
        raise NoSuchUpload(UploadId=upload.upload_id) from None
    out = {"etag": quote_etag(part.etag)}
    for alg, value in sums.items():
        out["x-amz-checksum-" + alg.lower()] = value
    return Response(headers=out)


def _copy_range(value: str | None, size: int) -> tuple[int, int]:
    if value is None:
        return 0, size
    spec = value.strip()
    if not spec.startswith("bytes="):
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=value,
        )
    first, _, last = spec[6:].partition("-")
    if not first.isdigit() or not last.isdigit() or int(last) < int(first):
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=value,
        )
    start, end = int(first), int(last) + 1
    if end > size:
        raise InvalidRange(ActualObjectSize=str(size), RangeRequested=value)
    return start, end


async def upload_part_copy(ctx: RequestContext) -> Response:
    number = _part_number(ctx)
    upload, _ = await _upload(ctx)
    src_bucket, src_key = parse_copy_source(ctx.headers["x-amz-copy-source"])
    src = await ctx.services.meta.get_object(src_bucket, src_key)
    check_read_conditions(ctx.headers, src, prefix="x-amz-copy-source-if-")
    start, end = _copy_range(ctx.headers.get("x-amz-copy-source-range"), src.size)
    if end - start > MAX_PUT_SIZE:
        raise EntityTooLarge()
    summer = checksums.new(upload.checksum_algorithm) if upload.checksum_algorithm else None
    also = summer.update if summer is not None else None
    stored = await ctx.services.objects.store_range(src, start, end, also)
    part = Part(number, stored.md5.hex(), stored.size, stored.blocks)
    if summer is not None:
        part.checksums = {summer.name: summer.digest_b64()}
    await ctx.services.uploads.put_part(
        ctx.bucket, ctx.key, upload.upload_id, part, stored.observed
    )
    return _xml(wire.copy_part_result(part.etag, part.mtime_ms, part.checksums))


async def complete_multipart_upload(ctx: RequestContext) -> Response:
    upload_id = ctx.query["uploadId"]
    body = await ctx.read_body()
    requested = wire.parse_complete(body)
    location = f"/{ctx.bucket}/{ctx.key}"
    for _ in range(16):
        try:
            return await _complete_once(ctx, upload_id, requested, location)
        except PartChanged:
            continue  # a part was uploaded meanwhile: read the parts again
    raise SlowDown()


async def _complete_once(
    ctx: RequestContext, upload_id: str, requested: list[wire.CompletedPart], location: str
) -> Response:
    try:
        upload, upload_raw = await ctx.services.uploads.get(ctx.bucket, ctx.key, upload_id)
    except UploadNotFound:
        return await _gone(ctx, location, upload_id)
    stored = {p.number: (p, raw) for p, raw in await ctx.services.uploads.parts(upload_id)}
    if any(r.number not in stored for r in requested) and await _upload_gone(ctx, upload_id):
        # A concurrent Complete of the same upload won the race and took the parts:
        # answer as that one did (or NoSuchUpload if it was aborted).
        return await _gone(ctx, location, upload_id)
    used: list[tuple[Part, bytes]] = []
    last = 0
    for i, req in enumerate(requested):
        if req.number <= last:
            raise InvalidPartOrder()
        last = req.number
        found = stored.get(req.number)
        if found is None or found[0].etag != req.etag:
            raise InvalidPart(UploadId=upload_id, PartNumber=str(req.number), ETag=req.etag)
        part = found[0]
        for alg, value in req.checksums.items():
            if part.checksums.get(alg) not in (None, value):
                raise InvalidPart(f"The checksum of part {req.number} does not match.")
        if i < len(requested) - 1 and part.size < MIN_PART_SIZE:
            raise EntityTooSmall(
                ProposedSize=str(part.size),
                MinSizeAllowed=str(MIN_PART_SIZE),
                PartNumber=str(req.number),
                ETag=req.etag,
            )
        used.append(found)
    parts = [p for p, _ in used]
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts)).hexdigest()
    head = ObjectHead(
        ctx.key,
        size=sum(p.size for p in parts),
        etag=f"{digest}-{len(parts)}",
        headers=upload.headers,
        user_meta=upload.user_meta,
        blocks=[b for p in parts for b in p.blocks],
        parts=[p.size for p in parts],
    )
    sums = _object_checksum(upload, parts)
    if sums:
        head.checksums, head.checksum_type = sums, upload.checksum_type
    try:
        await ctx.services.uploads.complete(
            upload, upload_raw, head, used, write_condition(ctx.headers)
        )
    except UploadNotFound:
        return await _gone(ctx, location, upload_id)
    return _xml(
        wire.complete_result(
            location, ctx.bucket, ctx.key, head.etag, head.checksums, head.checksum_type
        )
    )


async def _upload_gone(ctx: RequestContext, upload_id: str) -> bool:
    try:
        await ctx.services.uploads.get(ctx.bucket, ctx.key, upload_id)
        return False
    except UploadNotFound:
        return True


async def _gone(ctx: RequestContext, location: str, upload_id: str) -> Response:
    """The upload no longer exists: a Complete that already succeeded answers again as it
    did (a retry, or a concurrent duplicate); otherwise NoSuchUpload."""
    done = await ctx.services.uploads.completed(ctx.bucket, ctx.key, upload_id)
    if done is None:
        raise NoSuchUpload(UploadId=upload_id)
    return await _completed_again(ctx, location, *done)


async def _completed_again(
    ctx: RequestContext, location: str, etag: str, version: bytes
) -> Response:
    """A retried Complete of an upload that already completed answers as the first did,
    with the object's checksum while that version is still the current one."""
    sums: dict[str, str] = {}
    ctype = None
    try:
        head = await ctx.services.meta.get_object(ctx.bucket, ctx.key)
        if head.version == version:
            sums, ctype = head.checksums, head.checksum_type
    except Exception:  # noqa: BLE001 - the object may be gone since: the retry still succeeded
        pass
    return _xml(wire.complete_result(location, ctx.bucket, ctx.key, etag, sums, ctype))


def _object_checksum(upload: Upload, parts: list[Part]) -> dict[str, str]:
    alg = upload.checksum_algorithm
    if alg is None or not all(alg in p.checksums for p in parts):
        return {}
    if upload.checksum_type == "FULL_OBJECT":
        return {
            alg: checksums.combine_full_object(alg, [(p.checksums[alg], p.size) for p in parts])
        }
    return {alg: checksums.combine_composite(alg, [p.checksums[alg] for p in parts])}


async def abort_multipart_upload(ctx: RequestContext) -> Response:
    try:
        await ctx.services.uploads.abort(ctx.bucket, ctx.key, ctx.query["uploadId"])
    except UploadNotFound:
        raise NoSuchUpload(UploadId=ctx.query["uploadId"]) from None
    return Response(status_code=204)


async def list_parts(ctx: RequestContext) -> Response:
    upload, _ = await _upload(ctx)
    max_parts = wire.int_param(ctx.query, "max-parts", 1000, 0, 1000)
    marker = wire.int_param(ctx.query, "part-number-marker", 0, 0, MAX_PARTS)
    rows = await ctx.services.uploads.parts(upload.upload_id, after=marker, limit=max_parts + 1)
    parts = [p for p, _ in rows]
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    return _xml(wire.list_parts_result(upload, parts, marker, max_parts, truncated, _owner(ctx)))


async def list_multipart_uploads(ctx: RequestContext) -> Response:
    q = ctx.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, id_marker = q.get("key-marker", ""), q.get("upload-id-marker", "")
    max_uploads = wire.int_param(q, "max-uploads", 1000, 0, 1000)
    uploads: list[Upload] = []
    prefixes: list[str] = []
    truncated = False
    listed = await ctx.services.uploads.list(ctx.bucket)
    # Uploads of one key are ordered by initiation, not by id: the id marker is a position.
    after_marker = {
        i for i, u in enumerate(listed) if u.key == key_marker and u.upload_id == id_marker
    }
    skip_through = max(after_marker) if after_marker else -1
    for i, u in enumerate(listed):
        if not u.key.startswith(prefix):
            continue
        if key_marker and (
            u.key < key_marker or (u.key == key_marker and (not id_marker or i <= skip_through))
        ):
            continue
        if delimiter:
            i = u.key.find(delimiter, len(prefix))
            if i >= 0:
                cp = u.key[: i + len(delimiter)]
                if (prefixes and prefixes[-1] == cp) or (key_marker and cp <= key_marker):
                    continue
                if len(uploads) + len(prefixes) >= max_uploads:
                    truncated = True
                    break
                prefixes.append(cp)
                continue
        if len(uploads) + len(prefixes) >= max_uploads:
            truncated = True
            break
        uploads.append(u)
    body = wire.list_uploads_result(
        ctx.bucket,
        uploads,
        prefixes,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=id_marker,
        max_uploads=max_uploads,
        truncated=truncated,
        owner=_owner(ctx),
    )
    return _xml(body)
