"""Bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration, and the x-amz-expiration
header that GET, HEAD and PUT answer with for a version an Expiration rule applies to.

Whether the caller may call these was decided by the authorization step. A body is
parsed and checked in full (gateway/wire/lifecycle.py) before anything is stored, so bad
input changes nothing. The rules are carried out by the housekeeper
(meta/lifecycle_run.py), not here.
"""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import RequestContext
from gateway.errors import NoSuchLifecycleConfiguration
from gateway.objects.lifecycle import (
    abort_date,
    expiration,
    lifecycle_rules,
    set_lifecycle_rules,
)
from gateway.objects.types import StoredObject
from gateway.wire import lifecycle as wire

MAX_LIFECYCLE_BODY = 1 << 20  # 1,000 rules of a few hundred bytes each


async def get_bucket_lifecycle_configuration(ctx: RequestContext) -> Response:
    rules = await lifecycle_rules(ctx.services.buckets, ctx.bucket)
    if rules is None:
        raise NoSuchLifecycleConfiguration(BucketName=ctx.bucket)
    return Response(wire.render_lifecycle(rules), media_type="application/xml")


async def put_bucket_lifecycle_configuration(ctx: RequestContext) -> Response:
    rules = wire.parse_lifecycle(await ctx.read_body(limit=MAX_LIFECYCLE_BODY))
    await set_lifecycle_rules(ctx.services.buckets, ctx.bucket, rules)
    return Response()


async def delete_bucket_lifecycle(ctx: RequestContext) -> Response:
    """204 whether or not the bucket had rules, as AWS answers."""
    await set_lifecycle_rules(ctx.services.buckets, ctx.bucket, None)
    return Response(status_code=204)


async def expiration_headers(ctx: RequestContext, head: StoredObject) -> dict[str, str]:
    """x-amz-expiration for the current version a GET, HEAD or PUT answers about; none
    for a version asked for by id (a noncurrent one has no Expiration date)."""
    if "versionId" in ctx.query:
        return {}
    found = await expiration(ctx.services.buckets, ctx.bucket, head)
    return wire.expiration_header(*found) if found is not None else {}


async def abort_headers(ctx: RequestContext) -> dict[str, str]:
    """x-amz-abort-date and x-amz-abort-rule-id for CreateMultipartUpload, when a rule
    will abort the upload if it is not completed in time."""
    found = await abort_date(ctx.services.buckets, ctx.bucket, ctx.key)
    return wire.abort_headers(*found) if found is not None else {}
