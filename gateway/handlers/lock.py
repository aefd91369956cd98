"""Object lock: Get/PutObjectLockConfiguration, Get/PutObjectRetention and
Get/PutObjectLegalHold (by version too).

Whether the caller may call these was decided by the authorization step, which also
decides s3:BypassGovernanceRetention when the request asks to bypass
(``ctx.access.bypass_governance``). Bodies are parsed and checked in full
(gateway/wire/lock.py) before anything is stored; which retention change is allowed is
the record layer's rule (meta/lock.py), so no other path can get around it.
"""

from __future__ import annotations

import time

from starlette.responses import Response

from gateway.context import RequestContext
from gateway.errors import NoSuchObjectLockConfiguration, ObjectLockConfigurationNotFoundError
from gateway.handlers.object import version_id
from gateway.wire import lock as wire

MAX_LOCK_BODY = 16 * 1024  # each of these documents is a few hundred bytes


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _xml(body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type="application/xml", headers=headers)


# ------------------------------------------------------------------------ buckets


async def get_object_lock_configuration(ctx: RequestContext) -> Response:
    found = await ctx.services.objects.locks.configuration(ctx.bucket)
    if found is None:
        raise ObjectLockConfigurationNotFoundError(BucketName=ctx.bucket)
    return _xml(wire.configuration(found.rule))


async def put_object_lock_configuration(ctx: RequestContext) -> Response:
    rule = wire.parse_configuration(await ctx.read_body(limit=MAX_LOCK_BODY))
    await ctx.services.objects.locks.configure(ctx.bucket, rule)
    return Response()


# ------------------------------------------------------------------------ objects


async def get_object_retention(ctx: RequestContext) -> Response:
    found = await ctx.services.objects.locks.version_lock(
        ctx.bucket, ctx.key, version_id(ctx.query)
    )
    if found.mode is None:
        raise NoSuchObjectLockConfiguration()
    return _xml(wire.retention(found))


async def put_object_retention(ctx: RequestContext) -> Response:
    """Set, extend, or (GOVERNANCE, with the bypass) shorten or remove a retention."""
    vid = version_id(ctx.query)
    wanted = wire.parse_retention(await ctx.read_body(limit=MAX_LOCK_BODY), now_ms())
    await ctx.services.objects.locks.set_retention(
        ctx.bucket, ctx.key, vid, wanted, ctx.access.bypass_governance
    )
    return Response()


async def get_object_legal_hold(ctx: RequestContext) -> Response:
    found = await ctx.services.objects.locks.version_lock(
        ctx.bucket, ctx.key, version_id(ctx.query)
    )
    if found.legal_hold is None:
        raise NoSuchObjectLockConfiguration()
    return _xml(wire.legal_hold(found.legal_hold))


async def put_object_legal_hold(ctx: RequestContext) -> Response:
    vid = version_id(ctx.query)
    status = wire.parse_legal_hold(await ctx.read_body(limit=MAX_LOCK_BODY))
    await ctx.services.objects.locks.set_legal_hold(ctx.bucket, ctx.key, vid, status)
    return Response()
