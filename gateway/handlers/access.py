"""Access configuration of buckets and objects: ACLs, the bucket policy, Object
Ownership and the Public Access Block.

Whether the caller may call these was decided by the authorization step; these handlers
validate what is set (bad input changes nothing) and store it with the bucket, or, for
an object's ACL, with its head.
"""

from __future__ import annotations

from starlette.responses import Response

from gateway.authz import acl as acls
from gateway.authz import policies
from gateway.authz.decide import BucketView
from gateway.authz.public import bucket_is_public, check_acl_write, check_policy_write
from gateway.context import RequestContext
from gateway.errors import (
    NoSuchBucket,
    NoSuchBucketPolicy,
    NoSuchKey,
    NoSuchPublicAccessBlockConfiguration,
    OwnershipControlsNotFoundError,
)
from gateway.objects.types import BucketConfig
from gateway.wire import acl as wire_acl
from gateway.wire import bucket_config as wire_cfg

# The policy engine refuses a policy over 20 KiB (PolicyTooLarge) without counting
# whitespace; a body far beyond that is not even read.
MAX_POLICY_BODY = 16 * 20 * 1024 + 1


def _xml(body: bytes) -> Response:
    return Response(body, media_type="application/xml")


def _bucket(ctx: RequestContext) -> BucketView:
    if ctx.access.bucket is None:
        raise NoSuchBucket(BucketName=ctx.bucket)
    return ctx.access.bucket


# ------------------------------------------------------------------------------- ACLs


async def get_bucket_acl(ctx: RequestContext) -> Response:
    bucket = _bucket(ctx)
    return _xml(wire_acl.render(acls.acl_for_reading(bucket.ownership, bucket.acl, bucket.owner)))


async def put_bucket_acl(ctx: RequestContext) -> Response:
    bucket = _bucket(ctx)
    acls.check_acl_put(bucket.ownership)
    body = await ctx.read_body()
    a = ctx.access
    acl = wire_acl.acl_from_request(ctx.headers, body, bucket.owner, a.resolve_id, a.resolve_email)
    check_acl_write(bucket.pab, acl)

    def change(cfg: BucketConfig) -> None:
        cfg.acl = acl.to_dict()

    await ctx.services.buckets.configure(ctx.bucket, change)
    return Response()


async def _object_acl(ctx: RequestContext) -> tuple[acls.Owner, acls.Acl]:
    vid = ctx.query.get("versionId")
    if vid is not None:  # NoSuchVersion, or 405 for a delete marker, as a GET answers
        await ctx.services.objects.get_object(ctx.bucket, ctx.key, vid)
    obj = await ctx.services.objects.object_access(ctx.bucket, ctx.key, vid)
    if obj is None:
        raise NoSuchKey(Key=ctx.key)
    owner_id = obj.owner or ctx.services.owner_id
    owner = acls.Owner(owner_id, ctx.access.display_name(owner_id))
    acl = acls.Acl.from_dict(obj.acl) if obj.acl is not None else acls.private(owner)
    return owner, acl


async def get_object_acl(ctx: RequestContext) -> Response:
    bucket = _bucket(ctx)
    _, acl = await _object_acl(ctx)
    return _xml(wire_acl.render(acls.acl_for_reading(bucket.ownership, acl, bucket.owner)))


async def put_object_acl(ctx: RequestContext) -> Response:
    bucket = _bucket(ctx)
    acls.check_acl_put(bucket.ownership)
    body = await ctx.read_body()
    owner, _ = await _object_acl(ctx)
    a = ctx.access
    acl = wire_acl.acl_from_request(
        ctx.headers, body, owner, a.resolve_id, a.resolve_email, bucket.owner
    )
    check_acl_write(bucket.pab, acl)
    await ctx.services.objects.set_object_acl(
        ctx.bucket, ctx.key, acl.to_dict(), ctx.query.get("versionId")
    )
    return Response()


# ---------------------------------------------------------------------------- policy


async def get_bucket_policy(ctx: RequestContext) -> Response:
    bucket = _bucket(ctx)
    if bucket.policy is None:
        raise NoSuchBucketPolicy(BucketName=ctx.bucket)
    return Response(bucket.policy, media_type="application/json")


async def put_bucket_policy(ctx: RequestContext) -> Response:
    bucket = _bucket(ctx)
    body = await ctx.read_body(limit=MAX_POLICY_BODY)
    text = body.decode("utf-8", errors="replace")  # not JSON then: MalformedPolicy
    resolve = ctx.access.resolve_id
    parsed = policies.parse(text, ctx.bucket, lambda uid: resolve(uid) is not None)
    check_policy_write(bucket.pab, policies.is_public_parsed(parsed))

    def change(cfg: BucketConfig) -> None:
        cfg.policy = text

    await ctx.services.buckets.configure(ctx.bucket, change)
    return Response(status_code=204)


async def delete_bucket_policy(ctx: RequestContext) -> Response:
    _bucket(ctx)

    def change(cfg: BucketConfig) -> None:
        cfg.policy = None

    await ctx.services.buckets.configure(ctx.bucket, change)
    return Response(status_code=204)


async def get_bucket_policy_status(ctx: RequestContext) -> Response:
    bucket = _bucket(ctx)
    acl = bucket.acl if bucket.acls_enabled else None
    public = bucket_is_public(bucket.pab, bucket.policy_is_public(), acl)
    return _xml(wire_cfg.render_policy_status(public))


# ------------------------------------------------------------------ Object Ownership


async def get_bucket_ownership_controls(ctx: RequestContext) -> Response:
    bucket = _bucket(ctx)
    if bucket.ownership is None:
        raise OwnershipControlsNotFoundError(BucketName=ctx.bucket)
    return _xml(wire_cfg.render_ownership(bucket.ownership))


async def put_bucket_ownership_controls(ctx: RequestContext) -> Response:
    bucket = _bucket(ctx)
    ownership = wire_cfg.parse_ownership(await ctx.read_body())
    acls.check_enforce_allowed(ownership, bucket.acl)

    def change(cfg: BucketConfig) -> None:
        cfg.ownership = ownership

    await ctx.services.buckets.configure(ctx.bucket, change)
    return Response()


async def delete_bucket_ownership_controls(ctx: RequestContext) -> Response:
    _bucket(ctx)

    def change(cfg: BucketConfig) -> None:
        cfg.ownership = None

    await ctx.services.buckets.configure(ctx.bucket, change)
    return Response(status_code=204)


# --------------------------------------------------------------- Public Access Block


async def get_public_access_block(ctx: RequestContext) -> Response:
    bucket = _bucket(ctx)
    if not bucket.pab_set:
        raise NoSuchPublicAccessBlockConfiguration(BucketName=ctx.bucket)
    return _xml(wire_cfg.render_public_access_block(bucket.pab))


async def put_public_access_block(ctx: RequestContext) -> Response:
    _bucket(ctx)
    pab = wire_cfg.parse_public_access_block(await ctx.read_body())

    def change(cfg: BucketConfig) -> None:
        cfg.pab = pab.to_dict()

    await ctx.services.buckets.configure(ctx.bucket, change)
    return Response()


async def delete_public_access_block(ctx: RequestContext) -> Response:
    _bucket(ctx)

    def change(cfg: BucketConfig) -> None:
        cfg.pab = None

    await ctx.services.buckets.configure(ctx.bucket, change)
    return Response(status_code=204)
