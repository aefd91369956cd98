"""CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
AbortMultipartUpload, ListParts, ListMultipartUploads."""

from __future__ import annotations

from dataclasses import replace

from starlette.responses import Response

from gateway import checksums
from gateway.authz.writes import new_object
from gateway.context import RequestContext
from gateway.encryption import COPY_CUSTOMER, customer_key
from gateway.errors import (
    BadDigest,
    EntityTooLarge,
    InvalidArgument,
    InvalidRange,
    InvalidRequest,
)
from gateway.handlers.copy import parse_copy_source_version
from gateway.handlers.encryption import echo, write_encryption
from gateway.handlers.lifecycle import abort_headers
from gateway.handlers.object import (
    MAX_PUT_SIZE,
    check_key,
    content_md5,
    declared_length,
    request_lock,
    request_tags,
)
from gateway.objects.types import ObjectAttrs, UploadInfo
from gateway.wire import multipart as wire
from gateway.wire.headers import (
    check_read_conditions,
    quote_etag,
    stored_headers,
    user_metadata,
    write_condition,
)

MAX_PARTS = 10_000


def _xml(body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type="application/xml", headers=headers)


async def _upload(ctx: RequestContext) -> UploadInfo:
    return await ctx.services.multipart.upload(ctx.bucket, ctx.key, ctx.query["uploadId"])


def _part_number(ctx: RequestContext) -> int:
    raw = ctx.query.get("partNumber", "")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PARTS:
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
    attrs = new_object(ctx.access, h, ObjectAttrs(stored_headers(h), user_metadata(h)))
    attrs.tags = request_tags(h)
    attrs.lock = request_lock(h)  # kept with the upload, applied at Complete
    sse = await write_encryption(ctx)
    upload = await ctx.services.multipart.create(
        ctx.bucket, ctx.key, attrs, algorithm, ctype, encryption=sse
    )
    out = {**await abort_headers(ctx), **echo(upload.sse, sse)}
    if algorithm:
        out |= {"x-amz-checksum-algorithm": algorithm, "x-amz-checksum-type": ctype or ""}
    return _xml(wire.initiate_result(upload), out)


def check_part_algorithm(upload: UploadInfo, named: frozenset[str]) -> None:
    """A part of an upload made with a checksum algorithm carries that algorithm's
    checksum, as AWS requires: another algorithm is a "Checksum Type mismatch"
    (InvalidRequest), and so is none for a COMPOSITE upload, whose object checksum is
    made of the parts' (a FULL_OBJECT part without one gets it computed here)."""
    expected = upload.checksum_algorithm
    if expected is None or expected in named:
        return
    if named or upload.checksum_type == "COMPOSITE":
        actual = ", ".join(sorted(n.lower() for n in named)) or "null"
        raise InvalidRequest(
            f"Checksum Type mismatch occurred, expected checksum Type: {expected.lower()}, "
            f"actual checksum Type: {actual}"
        )


async def upload_part(ctx: RequestContext) -> Response:
    number = _part_number(ctx)
    size = declared_length(ctx.headers)
    if size is not None and size > MAX_PUT_SIZE:
        raise EntityTooLarge()
    expected_md5 = content_md5(ctx.headers)
    upload = await _upload(ctx)
    given = customer_key(ctx.headers)
    ctx.services.multipart.data_key(upload, given)  # SSE-C: the upload's key, before the body
    reader = ctx.body(check_md5=False)  # the part's ETag is its MD5: compared in verify
    if upload.checksum_algorithm:
        check_part_algorithm(upload, reader.named_algorithms)
        reader.also_hash(upload.checksum_algorithm)

    def verify(_size: int, md5: bytes) -> None:
        if expected_md5 is not None and md5 != expected_md5:
            raise BadDigest()

    part = await ctx.services.multipart.upload_part(
        upload, number, reader, verify=verify, checksums=lambda: reader.checksums,
        encryption=given,
    )  # fmt: skip
    out = {"etag": quote_etag(part.etag), **echo(upload.sse, given)}
    for alg, value in part.checksums.items():
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
    # isascii(): isdigit() also holds for "¹²³", which int() refuses.
    digits = (first + last).isascii() and first.isdigit() and last.isdigit()
    if not digits or int(last) < int(first):
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
    upload = await _upload(ctx)
    src_bucket, src_key, src_version = parse_copy_source_version(ctx.headers["x-amz-copy-source"])
    src = await ctx.services.objects.copy_source(src_bucket, src_key, src_version)
    check_read_conditions(ctx.headers, src, prefix="x-amz-copy-source-if-")
    start, end = _copy_range(ctx.headers.get("x-amz-copy-source-range"), src.size)
    if end - start > MAX_PUT_SIZE:
        raise EntityTooLarge()
    given = customer_key(ctx.headers)
    part = await ctx.services.multipart.copy_part(
        upload, number, src, start, end,
        encryption=given, source_encryption=customer_key(ctx.headers, COPY_CUSTOMER),
    )  # fmt: skip
    return _xml(
        wire.copy_part_result(part.etag, part.mtime_ms, part.checksums), echo(upload.sse, given)
    )


async def complete_multipart_upload(ctx: RequestContext) -> Response:
    upload_id = ctx.query["uploadId"]
    declared = checksums.declared_object_checksum(ctx.headers)
    # Here x-amz-checksum-* is the whole object's checksum, not the XML body's: the
    # body is read without it, and the object service compares it with the parts'.
    body_headers = {k: v for k, v in ctx.headers.items() if k not in checksums.BY_HEADER}
    body = await replace(ctx, headers=body_headers, _reader=None).read_body()
    requested = wire.parse_complete(body)
    given = customer_key(ctx.headers)
    sse = await ctx.services.multipart.check_key(ctx.bucket, ctx.key, upload_id, given)
    done = await ctx.services.multipart.complete(
        ctx.bucket, ctx.key, upload_id, requested, write_condition(ctx.headers), declared
    )
    location = f"/{ctx.bucket}/{ctx.key}"
    response = _xml(
        wire.complete_result(
            location, ctx.bucket, ctx.key, done.etag, done.checksums, done.checksum_type
        ),
        echo(sse, given),
    )
    if done.version_id is not None:
        response.headers["x-amz-version-id"] = done.version_id
    return response


async def abort_multipart_upload(ctx: RequestContext) -> Response:
    await ctx.services.multipart.abort(ctx.bucket, ctx.key, ctx.query["uploadId"])
    return Response(status_code=204)


async def list_parts(ctx: RequestContext) -> Response:
    upload = await _upload(ctx)
    max_parts = wire.int_param(ctx.query, "max-parts", 1000, 0, 1000)
    marker = wire.int_param(ctx.query, "part-number-marker", 0, 0, MAX_PARTS)
    page = await ctx.services.multipart.list_parts(upload, marker, max_parts)
    owner_of = await ctx.access.owners([upload.owner])
    body = wire.list_parts_result(
        upload, page.parts, marker, max_parts, page.truncated, owner_of(upload.owner)
    )
    return _xml(body)


async def list_multipart_uploads(ctx: RequestContext) -> Response:
    q = ctx.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, id_marker = q.get("key-marker", ""), q.get("upload-id-marker", "")
    max_uploads = wire.int_param(q, "max-uploads", 1000, 0, 1000)
    page = await ctx.services.multipart.list_uploads(
        ctx.bucket, prefix, delimiter, key_marker, id_marker, max_uploads
    )
    body = wire.list_uploads_result(
        ctx.bucket,
        page.uploads,
        page.prefixes,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=id_marker,
        max_uploads=max_uploads,
        truncated=page.truncated,
        owner_of=await ctx.access.owners(u.owner for u in page.uploads),
    )
    return _xml(body)
