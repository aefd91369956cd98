"""Object and bucket tags: Put/Get/DeleteObjectTagging (by version too) and
Put/Get/DeleteBucketTagging.

Whether the caller may call these was decided by the authorization step. A body is
parsed and checked in full (gateway/wire/tagging.py) before anything is stored, so bad
input changes nothing. Object tags live in the version's record, so a PutObjectTagging
changes no version and moves no block; bucket tags in the bucket record.
"""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import RequestContext
from gateway.errors import NoSuchTagSet
from gateway.handlers.object import version_headers, version_id
from gateway.wire import tagging as wire

MAX_TAGGING_BODY = 64 * 1024  # 50 tags of 128+256 characters fit many times over


def _xml(body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type="application/xml", headers=headers)


# ------------------------------------------------------------------------ objects


async def get_object_tagging(ctx: RequestContext) -> Response:
    """The version's tags; an empty TagSet when it has none (S3 answers 200 so)."""
    vid = version_id(ctx.query)
    head = await ctx.services.objects.get_object(ctx.bucket, ctx.key, vid)
    return _xml(wire.render(head.tags), version_headers(head, asked=vid is not None))


async def put_object_tagging(ctx: RequestContext) -> Response:
    tags = wire.parse_tagging(await ctx.read_body(limit=MAX_TAGGING_BODY))
    return await _set_object_tags(ctx, tags, status=200)


async def delete_object_tagging(ctx: RequestContext) -> Response:
    return await _set_object_tags(ctx, {}, status=204)


async def _set_object_tags(ctx: RequestContext, tags: wire.Tags, status: int) -> Response:
    vid = version_id(ctx.query)
    if vid is not None:  # NoSuchVersion, or 405 for a delete marker, as a GET answers
        await ctx.services.objects.get_object(ctx.bucket, ctx.key, vid)
    head = await ctx.services.objects.set_object_tags(ctx.bucket, ctx.key, tags, vid)
    return Response(status_code=status, headers=version_headers(head, asked=vid is not None))


# ------------------------------------------------------------------------ buckets


async def get_bucket_tagging(ctx: RequestContext) -> Response:
    tags = await ctx.services.buckets.tags(ctx.bucket)
    if tags is None:
        raise NoSuchTagSet(BucketName=ctx.bucket)
    return _xml(wire.render(tags))


async def put_bucket_tagging(ctx: RequestContext) -> Response:
    body = await ctx.read_body(limit=MAX_TAGGING_BODY)
    tags = wire.parse_tagging(body, limit=wire.MAX_BUCKET_TAGS)
    await ctx.services.buckets.set_tags(ctx.bucket, tags)
    return Response(status_code=204)


async def delete_bucket_tagging(ctx: RequestContext) -> Response:
    await ctx.services.buckets.set_tags(ctx.bucket, None)
    return Response(status_code=204)
