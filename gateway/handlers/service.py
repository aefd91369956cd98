"""ListBuckets."""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import RequestContext
from gateway.wire import bucket as wire


async def list_buckets(ctx: RequestContext) -> Response:
    buckets = await ctx.services.buckets.list()
    body = wire.list_buckets(buckets, ctx.services.owner_id, ctx.services.owner_name)
    return Response(body, media_type="application/xml")
