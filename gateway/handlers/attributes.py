"""GetObjectAttributes: an object's ETag, checksum, parts, storage class and size in one
answer, without its body (HeadObject and ListParts in one call).

The version is found as a GetObject finds it (a delete marker or a missing key answers
as there); Last-Modified and, for a version with an id, x-amz-version-id come as headers.
A multipart object made with a checksum algorithm keeps each part's checksum, shown in
its ObjectParts rows; parts of an upload without one are listed without, as AWS lists them.
"""

from __future__ import annotations

from starlette.responses import Response

from gateway import checksums
from gateway.context import RequestContext
from gateway.encryption import customer_key
from gateway.handlers.object import version_headers, version_id
from gateway.objects.types import StoredObject
from gateway.wire import attributes as wire
from gateway.wire.headers import http_date


async def get_object_attributes(ctx: RequestContext) -> Response:
    names = wire.asked(ctx.headers)
    page = wire.parts_page(ctx.headers)
    head = await ctx.services.objects.get_object(ctx.bucket, ctx.key, version_id(ctx.query))
    ctx.services.objects.data_key(head, customer_key(ctx.headers))  # SSE-C: its key, as GET
    attrs = wire.Attributes(
        etag=head.etag,
        size=head.size,
        storage_class=head.headers.get("x-amz-storage-class", "STANDARD"),
        checksums=head.checksums,
        checksum_type=head.checksum_type,
        parts=head.parts,
        part_checksums=_part_checksums(head),
    )
    headers = {"last-modified": http_date(head.mtime_ms)}
    headers.update(version_headers(head, asked="versionId" in ctx.query))
    return Response(wire.render(attrs, names, page), media_type="application/xml", headers=headers)


def _part_checksums(head: StoredObject) -> list[dict[str, str]]:
    """Each part's checksums (by algorithm), in part order; [] when none are kept."""
    if not head.parts or not head.part_checksums:
        return []
    return [
        checksums.of_part(head.checksums, head.part_checksums, n)
        for n in range(1, len(head.parts) + 1)
    ]
