"""DeleteObjects: up to 1,000 keys in one request, each deleted on its own."""

from __future__ import annotations

import base64
import hashlib

from starlette.responses import Response

from gateway.context import RequestContext
from gateway.errors import BadDigest, InvalidRequest, MalformedXML, NoSuchBucket, from_internal
from gateway.handlers.object import content_md5
from gateway.wire import multi_delete as wire

MAX_KEYS = 1000


async def delete_objects(ctx: RequestContext) -> Response:
    headers = ctx.headers
    has_checksum = (
        any(h.startswith("x-amz-checksum-") and h != "x-amz-checksum-type" for h in headers)
        or "x-amz-trailer" in headers
    )
    expected_md5 = content_md5(headers)
    if expected_md5 is None and not has_checksum:
        raise InvalidRequest("Missing required header for this request: Content-MD5")
    body = await ctx.read_body()  # the body reader verifies any x-amz-checksum-*
    if expected_md5 is not None and hashlib.md5(body).digest() != expected_md5:
        raise BadDigest(ExpectedDigest=base64.b64encode(expected_md5).decode())
    quiet, objects = wire.parse_delete(body)
    if len(objects) > MAX_KEYS:
        raise MalformedXML()
    if await ctx.services.meta.get_bucket(ctx.bucket) is None:
        raise NoSuchBucket(BucketName=ctx.bucket)
    deleted: list[tuple[str, str | None]] = []
    errors: list[tuple[str, str, str]] = []
    for key, version in objects:
        if version is not None and version != "null":
            errors.append((key, "NoSuchVersion", "The specified version does not exist."))
            continue
        try:
            await ctx.services.meta.delete_object(ctx.bucket, key)
            deleted.append((key, version))
        except Exception as exc:  # noqa: BLE001 - reported per key, as S3 does
            err = from_internal(exc)
            errors.append((key, err.code, err.text))
    return Response(wire.delete_result(deleted, errors, quiet), media_type="application/xml")
