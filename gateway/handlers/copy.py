"""CopyObject: a new version that shares the source's blocks; no bytes are rewritten."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from starlette.responses import Response

from gateway.authz.writes import new_object
from gateway.context import RequestContext
from gateway.encryption import COPY_CUSTOMER, customer_key, requested
from gateway.errors import InvalidArgument, InvalidRequest
from gateway.handlers.encryption import echo, write_encryption
from gateway.handlers.lifecycle import expiration_headers
from gateway.handlers.object import check_key, request_lock, request_tags, version_headers
from gateway.objects.types import ObjectAttrs, StoredObject
from gateway.wire import copy as wire
from gateway.wire.headers import (
    check_read_conditions,
    stored_headers,
    user_metadata,
    write_condition,
)


def parse_copy_source(value: str) -> tuple[str, str]:
    """(bucket, key) of x-amz-copy-source: "[/]bucket/key[?versionId=...]", URL-encoded."""
    return parse_copy_source_version(value)[:2]


def parse_copy_source_version(value: str) -> tuple[str, str, str | None]:
    """(bucket, key, versionId or None) of x-amz-copy-source."""
    path, _, query = value.partition("?")
    vid = None
    if query:
        vid = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("versionId")
        if vid is not None and not vid:
            raise InvalidArgument("Version id cannot be the empty string", ArgumentName="versionId")
    path = unquote(path)
    if path.startswith("/"):
        path = path[1:]
    bucket, sep, key = path.partition("/")
    if not bucket or not sep or not key:
        raise InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value,
        )
    return bucket, key, vid


def copy_tags(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The copy's tags: None keeps the source's (x-amz-tagging-directive COPY, the
    default); REPLACE takes x-amz-tagging's (none without it)."""
    directive = headers.get("x-amz-tagging-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument(
            "Unknown tagging directive.",
            ArgumentName="x-amz-tagging-directive",
            ArgumentValue=directive,
        )
    return request_tags(headers) if directive == "REPLACE" else None


MAX_COPY_SIZE = 5 << 30  # larger objects are copied with UploadPartCopy, as in S3


async def copy_object(ctx: RequestContext) -> Response:
    check_key(ctx.key)
    headers = ctx.headers
    src_bucket, src_key, src_version = parse_copy_source_version(headers["x-amz-copy-source"])
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument(
            "Unknown metadata directive.",
            ArgumentName="x-amz-metadata-directive",
            ArgumentValue=directive,
        )
    same = (src_bucket, src_key) == (ctx.bucket, ctx.key) and src_version is None
    asked = requested(headers)  # a copy onto itself that changes encryption is allowed
    if (
        same
        and directive == "COPY"
        and asked is None
        and "x-amz-storage-class" not in headers
        and "x-amz-website-redirect-location" not in headers
    ):
        raise InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes."
        )
    condition = write_condition(headers)
    access = new_object(ctx.access, headers, ObjectAttrs())
    tags = copy_tags(headers)
    lock = request_lock(headers)  # the copy's own; the source's lock is not copied
    sse = await write_encryption(ctx)

    def replace() -> ObjectAttrs:
        return ObjectAttrs(stored_headers(headers), user_metadata(headers))

    def source_condition(src: StoredObject) -> None:
        check_read_conditions(headers, src, prefix="x-amz-copy-source-if-")
        if src.size > MAX_COPY_SIZE:
            raise InvalidRequest(
                "The specified copy source is larger than the maximum allowable size for a "
                f"copy source: {MAX_COPY_SIZE}"
            )

    head, src = await ctx.services.objects.copy_object(
        src_bucket,
        src_key,
        ctx.bucket,
        ctx.key,
        replace=replace if directive == "REPLACE" else None,
        source_condition=source_condition,
        condition=condition,
        access=access,
        src_version=src_version,
        tags=tags,
        lock=lock,
        encryption=sse,
        source_encryption=customer_key(headers, COPY_CUSTOMER),
    )
    out = {**version_headers(head), **echo(head.sse, sse)}
    out.update(await expiration_headers(ctx, head))
    if src_version is not None or src.vid != "null":
        out["x-amz-copy-source-version-id"] = src.vid
    return Response(wire.copy_object_result(head), media_type="application/xml", headers=out)
