"""CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation, GetBucketVersioning."""

from __future__ import annotations

import ipaddress
import re

from starlette.responses import Response

from gateway.authz.writes import new_bucket, same_bucket
from gateway.context import RequestContext
from gateway.errors import (
    AccessDenied,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    InvalidBucketName,
    InvalidLocationConstraint,
)
from gateway.wire import bucket as wire
from gateway.wire import lock as lock_wire
from gateway.wire import versioning as versioning_wire

LEGACY_REGION = "us-east-1"  # where AWS lets an owner create its bucket again
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_bucket_name(name: str) -> None:
    """AWS's general-purpose bucket naming rules."""
    ok = bool(_NAME.match(name)) and ".." not in name and ".-" not in name and "-." not in name
    if ok and (name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES)):
        ok = False
    if ok:
        try:
            ipaddress.IPv4Address(name)
            ok = False
        except ValueError:
            pass
    if not ok:
        raise InvalidBucketName(BucketName=name)


async def create_bucket(ctx: RequestContext) -> Response:
    validate_bucket_name(ctx.bucket)
    body = await ctx.read_body()
    region = wire.location_constraint(body) or ctx.services.region
    if region != ctx.services.region and not (
        region == "EU" and ctx.services.region == "eu-west-1"
    ):
        raise InvalidLocationConstraint(LocationConstraint=region)
    config = new_bucket(ctx.access, ctx.bucket, ctx.headers)
    object_lock = lock_wire.lock_enabled_header(ctx.headers)
    existing = await ctx.services.buckets.create(
        ctx.bucket, region, config.owner, config, object_lock=object_lock
    )
    if existing is not None:
        if not same_bucket(existing, config, ctx.services.owner_id):
            raise BucketAlreadyExists(BucketName=ctx.bucket)
        if ctx.services.region != LEGACY_REGION:
            raise BucketAlreadyOwnedByYou(BucketName=ctx.bucket)
    # us-east-1 answers a repeated CreateBucket by its owner with 200 and changes nothing,
    # unless it asks for another ACL than the bucket has (BucketAlreadyExists, as S3).
    return Response(headers={"location": "/" + ctx.bucket})


async def head_bucket(ctx: RequestContext) -> Response:
    region = await ctx.services.buckets.region(ctx.bucket)
    return Response(headers={"x-amz-bucket-region": region})


async def delete_bucket(ctx: RequestContext) -> Response:
    await ctx.services.buckets.delete(ctx.bucket)
    return Response(status_code=204)


async def get_bucket_location(ctx: RequestContext) -> Response:
    region = await ctx.services.buckets.region(ctx.bucket)
    return Response(wire.location(region), media_type="application/xml")


async def get_bucket_versioning(ctx: RequestContext) -> Response:
    status = await ctx.services.buckets.versioning(ctx.bucket)
    return Response(versioning_wire.versioning(status), media_type="application/xml")


async def put_bucket_versioning(ctx: RequestContext) -> Response:
    """Enabled or Suspended (a bucket never returns to unversioned). MFA delete needs an
    MFA device, which Cairn has none of: refused as AWS refuses it without one."""
    status, mfa = versioning_wire.parse_versioning(await ctx.read_body())
    if mfa == "Enabled":
        raise AccessDenied("Mfa Authentication must be used for this request")
    if status is None:
        raise versioning_wire.MalformedXML()
    await ctx.services.buckets.set_versioning(ctx.bucket, status)
    return Response()
