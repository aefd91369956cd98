"""PutObject, GetObject, HeadObject, DeleteObject."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import cast

from starlette.responses import Response

from gateway import checksums, errors
from gateway.authz.actions import LOCK_READ_NEEDS
from gateway.authz.writes import new_object
from gateway.context import RequestContext
from gateway.encryption import customer_key
from gateway.errors import (
    BadDigest,
    EntityTooLarge,
    InvalidArgument,
    InvalidDigest,
    InvalidPartNumber,
    InvalidRequest,
    KeyTooLongError,
)
from gateway.handlers.encryption import echo, write_encryption
from gateway.handlers.lifecycle import expiration_headers
from gateway.objects.types import ObjectAttrs, ObjectLock, StoredObject
from gateway.responses import ObjectStream
from gateway.wire import lock as wire_lock
from gateway.wire import tagging as wire_tagging
from gateway.wire.headers import (
    RESPONSE_OVERRIDES,
    check_read_conditions,
    object_headers,
    parse_range,
    quote_etag,
    stored_headers,
    user_metadata,
    write_condition,
)

MAX_KEY_BYTES = 1024
MAX_PUT_SIZE = 5 << 30  # the largest single PUT S3 allows


def check_key(key: str) -> None:
    if len(key.encode()) > MAX_KEY_BYTES:
        raise KeyTooLongError(Size=str(len(key.encode())), MaxSizeAllowed=str(MAX_KEY_BYTES))


def version_id(query: Mapping[str, str]) -> str | None:
    """The versionId a request names, if any ("null" included; the object service
    refuses one that no version could have)."""
    vid = query.get("versionId")
    if vid is not None and not vid:
        raise InvalidArgument("Version id cannot be the empty string", ArgumentName="versionId")
    return vid


def version_headers(head: StoredObject, asked: bool = False) -> dict[str, str]:
    """x-amz-version-id of a version with an id; a null version's only when it was asked
    for by id (a write while versioning is suspended answers without one, as S3 does)."""
    return {"x-amz-version-id": head.vid} if asked or head.vid != "null" else {}


def content_md5(headers: Mapping[str, str]) -> bytes | None:
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidDigest(**{"Content-MD5": value}) from None
    if len(digest) != 16:
        raise InvalidDigest(**{"Content-MD5": value})
    return digest


def declared_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("x-amz-decoded-content-length") or headers.get("content-length")
    return int(value) if value and value.isascii() and value.isdigit() else None


def request_tags(headers: Mapping[str, str]) -> dict[str, str]:
    """The tags x-amz-tagging gives a new version (checked before any byte is stored)."""
    value = headers.get("x-amz-tagging")
    return wire_tagging.parse_header(value) if value else {}


def request_lock(headers: Mapping[str, str]) -> ObjectLock | None:
    """The object lock the x-amz-object-lock-* headers give a new version (checked before
    any byte is stored); None: the bucket's default retention applies, if it has one."""
    return wire_lock.request_lock(headers, time.time_ns() // 1_000_000)


async def put_object(ctx: RequestContext) -> Response:
    check_key(ctx.key)
    headers = ctx.headers
    expected_md5 = content_md5(headers)
    size = declared_length(headers)
    if size is not None and size > MAX_PUT_SIZE:
        raise EntityTooLarge(ProposedSize=str(size), MaxSizeAllowed=str(MAX_PUT_SIZE))
    attrs = new_object(
        ctx.access, headers, ObjectAttrs(stored_headers(headers), user_metadata(headers))
    )
    attrs.tags = request_tags(headers)
    attrs.lock = request_lock(headers)
    if attrs.lock is not None and ctx.endpoint.op == "PutObject":
        wire_lock.require_integrity(headers)
    sse = await write_encryption(ctx)
    reader = ctx.body(check_md5=False)  # the ETag is the MD5: compared in verify

    def verify(stored_size: int, md5: bytes) -> None:
        if expected_md5 is not None and md5 != expected_md5:
            raise BadDigest(ExpectedDigest=expected_md5.hex(), CalculatedDigest=md5.hex())
        if stored_size > MAX_PUT_SIZE:
            raise EntityTooLarge()

    head = await ctx.services.objects.put_object(
        ctx.bucket,
        ctx.key,
        reader,
        attrs,
        verify=verify,
        checksums=lambda: reader.checksums,
        condition=write_condition(headers),
        encryption=sse,
    )
    out = {"etag": quote_etag(head.etag), **version_headers(head), **echo(head.sse, sse)}
    out.update(await expiration_headers(ctx, head))
    for alg, value in head.checksums.items():
        out["x-amz-checksum-" + alg.lower()] = value
    return Response(headers=out)


async def _load(ctx: RequestContext) -> StoredObject:
    """The version to serve: the one the authorization step read to decide, if it read
    one (no second metadata read), else the object service's."""
    vid = version_id(ctx.query)
    seen = ctx.access.object_seen()
    if seen is not None:
        return cast(StoredObject, seen)
    return await ctx.services.objects.get_object(ctx.bucket, ctx.key, vid)


async def _visible_lock(ctx: RequestContext, lock: ObjectLock) -> ObjectLock:
    """The lock headers a caller may see: the retention with s3:GetObjectRetention, the
    legal hold with s3:GetObjectLegalHold (AWS leaves the headers out otherwise)."""
    if lock.mode is not None and not await ctx.access.may(LOCK_READ_NEEDS["retention"]):
        lock = replace(lock, mode=None, until_ms=None)
    if lock.legal_hold is not None and not await ctx.access.may(LOCK_READ_NEEDS["legal_hold"]):
        lock = replace(lock, legal_hold=None)
    return lock


def _overrides(ctx: RequestContext, headers: dict[str, str]) -> None:
    for param, header in RESPONSE_OVERRIDES.items():
        if param in ctx.query:
            headers[header] = ctx.query[param]


def _part_range(ctx: RequestContext, head: StoredObject) -> tuple[int, int] | None:
    """partNumber=N reads one part of a multipart object (part 1 of a simple one)."""
    value = ctx.query.get("partNumber")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 10000:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
        )
    n = int(value)
    parts = head.parts or [head.size]
    if n > len(parts):
        # AWS names what was asked and what exists (the Ceph suite expects 400 InvalidPart
        # here; AWS, MinIO and Swift's s3api answer this).
        raise InvalidPartNumber(PartNumberRequested=str(n), ActualPartCount=str(len(parts)))
    start = sum(parts[: n - 1])
    return start, start + parts[n - 1]


def part_checksum_headers(head: StoredObject, number: int) -> dict[str, str]:
    """The checksum headers of GET/HEAD ?partNumber=N: the part's own checksum (AWS gives a
    part's, not the object's, whichever the checksum type), or the object's when the
    object is one simple part."""
    if head.parts:
        sums = checksums.of_part(head.checksums, head.part_checksums, number)
    else:
        sums = head.checksums
    out = {"x-amz-checksum-" + alg.lower(): value for alg, value in sums.items()}
    if out and head.checksum_type:
        out["x-amz-checksum-type"] = head.checksum_type
    return out


async def get_object(ctx: RequestContext) -> Response:
    return await _get_or_head(ctx, with_body=True)


async def head_object(ctx: RequestContext) -> Response:
    return await _get_or_head(ctx, with_body=False)


async def get_object_torrent(ctx: RequestContext) -> Response:
    """Torrents are not served (S3 itself discontinued BitTorrent): NotImplemented, once
    the object is known to exist, so a missing key or bucket answers as for GetObject."""
    await _load(ctx)
    raise errors.NotImplemented("GetObjectTorrent (the torrent subresource) is not implemented.")


async def _get_or_head(ctx: RequestContext, with_body: bool) -> Response:
    head = await _load(ctx)
    given = customer_key(ctx.headers)
    data_key = ctx.services.objects.data_key(head, given)  # SSE-C: the right key, or 400
    check_read_conditions(ctx.headers, head)
    checksum_mode = ctx.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    part = _part_range(ctx, head)
    if part is not None and ctx.headers.get("range"):
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    rng = part or parse_range(ctx.headers.get("range"), head.size)
    headers = object_headers(head, checksum_mode=checksum_mode and rng is None)
    if checksum_mode and part is not None:
        headers.update(part_checksum_headers(head, int(ctx.query["partNumber"])))
    headers.update(version_headers(head, asked="versionId" in ctx.query))
    headers.update(wire_tagging.tagging_count(head.tags))
    lock = ctx.services.objects.locks.of(head)
    if lock != ObjectLock():  # most versions have none: nothing to decide
        lock = await _visible_lock(ctx, lock)
    headers.update(wire_lock.lock_headers(lock))
    headers.update(await expiration_headers(ctx, head))
    headers.update(echo(head.sse, given))
    _overrides(ctx, headers)
    status = 200
    start, end = 0, head.size
    if rng is not None:
        start, end = rng
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{head.size}"
    headers["content-length"] = str(end - start)
    if not with_body:
        return Response(status_code=status, headers=headers)
    if head.inline is not None and head.sse is None:
        return Response(head.inline[start:end], status_code=status, headers=headers)
    body = ctx.services.objects.read(head, start, end, data_key)
    return ObjectStream(body, status, headers)


async def delete_object(ctx: RequestContext) -> Response:
    """204 in every case S3 answers it: with x-amz-version-id (the version removed, or
    the delete marker made) and x-amz-delete-marker when that version is a marker."""
    done = await ctx.services.objects.delete_object(
        ctx.bucket,
        ctx.key,
        version_id(ctx.query),
        owner=ctx.access.caller.user_id or "",
        bypass=ctx.access.bypass_governance,
    )
    headers: dict[str, str] = {}
    vid = done.version_id or done.marker_version_id
    if vid is not None:
        headers["x-amz-version-id"] = vid
    if done.marker:
        headers["x-amz-delete-marker"] = "true"
    return Response(status_code=204, headers=headers)
