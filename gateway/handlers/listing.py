"""ListObjects, ListObjectsV2, ListObjectVersions: one page from the ordered index."""

from __future__ import annotations

import base64
import binascii

from starlette.responses import Response

from gateway.context import RequestContext
from gateway.errors import InvalidArgument
from gateway.wire import listing as wire
from gateway.wire.listing import ListingParams

MAX_KEYS = 1000


def _params(ctx: RequestContext) -> ListingParams:
    q = ctx.query
    raw = q.get("max-keys", str(MAX_KEYS))
    try:
        max_keys = int(raw)
    except ValueError:
        raise InvalidArgument(
            "Provided max-keys not an integer or within integer range",
            ArgumentName="max-keys",
            ArgumentValue=raw,
        ) from None
    if max_keys < 0:
        raise InvalidArgument(
            "Argument maxKeys must be an integer between 0 and 2147483647",
            ArgumentName="maxKeys",
            ArgumentValue=raw,
        )
    enc = q.get("encoding-type")
    if enc is not None and enc.lower() != "url":
        raise InvalidArgument(
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=enc,
        )
    return ListingParams(
        bucket=ctx.bucket,
        prefix=q.get("prefix", ""),
        delimiter=q.get("delimiter", ""),
        max_keys=min(max_keys, MAX_KEYS),
        encode=enc is not None,
    )


async def list_objects(ctx: RequestContext) -> Response:
    p = _params(ctx)
    marker = ctx.query.get("marker", "")
    page = await ctx.services.listing.objects_v1(
        p.bucket, p.prefix, p.delimiter, marker, p.max_keys
    )
    owner_of = await ctx.access.owners(e.head.owner for e in page.entries if e.head)
    body = wire.list_objects_v1(p, page.entries, page.truncated, marker, page.next_marker, owner_of)
    return Response(body, media_type="application/xml")


def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument(
            "The continuation token provided is incorrect", ArgumentName="continuation-token"
        ) from None


async def list_objects_v2(ctx: RequestContext) -> Response:
    p = _params(ctx)
    token = ctx.query.get("continuation-token")
    start_after = ctx.query.get("start-after")
    after = decode_token(token) if token is not None else start_after
    page = await ctx.services.listing.objects_v2(p.bucket, p.prefix, p.delimiter, after, p.max_keys)
    next_token = encode_token(page.next_marker) if page.next_marker is not None else None
    fetch_owner = ctx.query.get("fetch-owner", "").lower() == "true"
    owners = (e.head.owner for e in page.entries if e.head)
    owner = await ctx.access.owners(owners) if fetch_owner else None
    body = wire.list_objects_v2(
        p, page.entries, page.truncated, token, next_token, start_after, owner
    )
    return Response(body, media_type="application/xml")


async def list_object_versions(ctx: RequestContext) -> Response:
    p = _params(ctx)
    key_marker = ctx.query.get("key-marker", "")
    version_marker = ctx.query.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise InvalidArgument(
            "A version-id marker cannot be specified without a key marker.",
            ArgumentName="version-id-marker",
            ArgumentValue=version_marker,
        )
    page = await ctx.services.objects.versions(
        p.bucket, p.prefix, p.delimiter, key_marker, version_marker, p.max_keys
    )
    owner_of = await ctx.access.owners(e.head.owner for e in page.entries if e.head)
    body = wire.list_object_versions(p, page, key_marker, version_marker, owner_of)
    return Response(body, media_type="application/xml")
