"""ListBuckets, with AWS's optional paging: max-buckets, continuation-token, prefix and
bucket-region."""

from __future__ import annotations

import base64
import binascii

from starlette.responses import Response

from gateway.context import RequestContext
from gateway.errors import InvalidArgument
from gateway.objects.types import BucketInfo
from gateway.wire import bucket as wire

MAX_BUCKETS = 10_000
PAGING_PARAMS = ("max-buckets", "continuation-token", "prefix", "bucket-region")


def _max_buckets(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_BUCKETS:
        raise InvalidArgument(
            f"Argument max-buckets must be an integer between 1 and {MAX_BUCKETS}",
            ArgumentName="max-buckets",
            ArgumentValue=raw,
        )
    return int(raw)


def encode_token(name: str) -> str:
    """The continuation token is the last name shown, opaque to clients."""
    return base64.urlsafe_b64encode(name.encode()).decode("ascii")


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode()
    except (binascii.Error, ValueError):
        raise InvalidArgument(
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
            ArgumentValue=token,
        ) from None


async def list_buckets(ctx: RequestContext) -> Response:
    q = ctx.query
    limit = _max_buckets(q.get("max-buckets"))
    token = q.get("continuation-token")
    after = decode_token(token) if token else ""
    prefix = q.get("prefix", "")
    caller = ctx.access.caller
    user_id = caller.user_id or ""
    bootstrap = ctx.services.owner_id

    def own(b: BucketInfo) -> bool:
        """AWS lists the buckets the caller owns; a narrowed key, only those it may use."""
        return (b.owner or bootstrap) == user_id and bool(caller.rights(b.name))

    page = await ctx.services.buckets.list(
        prefix=prefix, after=after, limit=limit, region=q.get("bucket-region"), keep=own
    )
    next_token = encode_token(page.buckets[-1].name) if page.truncated else None
    body = wire.list_buckets(
        page.buckets,
        user_id,
        ctx.access.display_name(user_id),
        # AWS shows each bucket's region (and echoes the prefix) once any paging
        # parameter was sent; a plain ListBuckets keeps the classic shape.
        paged=any(p in q for p in PAGING_PARAMS),
        prefix=prefix if "prefix" in q else None,
        continuation_token=next_token,
    )
    return Response(body, media_type="application/xml")
