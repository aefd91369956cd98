"""DeleteObjects: up to 1,000 keys in one request, each deleted on its own."""

from __future__ import annotations

import base64
import hashlib

from starlette.responses import Response

from gateway.context import RequestContext
from gateway.errors import AccessDenied, BadDigest, InvalidRequest, MalformedXML, from_internal
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
    errors: list[wire.Failure] = []
    allowed = []
    for key, version in objects:  # the authorization step's decision, key by key
        if await ctx.access.may_delete(key, version):
            allowed.append((key, version))
        else:
            errors.append((key, version, AccessDenied.__name__, AccessDenied.message))
    owner = ctx.access.caller.user_id or ""  # owns the delete markers made
    outcome = await ctx.services.objects.delete_objects(
        ctx.bucket, allowed, owner, ctx.access.bypass_governance
    )
    for key, version, exc in outcome.failed:
        err = from_internal(exc)  # each key's failure as S3 would report it
        errors.append((key, version, err.code, err.text))
    body = wire.delete_result(outcome.deleted, errors, quiet)
    return Response(body, media_type="application/xml")
