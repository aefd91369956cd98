"""Bucket default encryption: Put/Get/DeleteBucketEncryption, and the encryption a new
version gets (what its request asks for, else its bucket's default)."""

from __future__ import annotations

from starlette.responses import Response

from gateway import encryption
from gateway.context import RequestContext
from gateway.errors import KmsNotFound, NoSuchBucket, ServerSideEncryptionConfigurationNotFoundError
from gateway.objects.buckets import default_encryption, set_default_encryption
from gateway.objects.types import SseRequest
from gateway.wire.encryption import parse_configuration, render_configuration, response_headers


async def write_encryption(ctx: RequestContext, bucket: str | None = None) -> SseRequest | None:
    """The encryption of a new version or upload in ``bucket`` (default: the request's)."""
    asked = encryption.requested(ctx.headers)
    if asked is not None:
        return asked
    default = await default_encryption(ctx.services.buckets, bucket or ctx.bucket)
    return encryption.with_default(None, default)


def echo(record: object, given: SseRequest | None) -> dict[str, str]:
    """The x-amz-server-side-encryption* headers of a response about a version."""
    md5 = given.customer_key_md5 if given is not None else ""
    return response_headers(record if isinstance(record, dict) else None, md5)


async def get_bucket_encryption(ctx: RequestContext) -> Response:
    _check_bucket(ctx)
    default = await default_encryption(ctx.services.buckets, ctx.bucket)
    if default is None:
        raise ServerSideEncryptionConfigurationNotFoundError(BucketName=ctx.bucket)
    return Response(render_configuration(default), media_type="application/xml")


async def put_bucket_encryption(ctx: RequestContext) -> Response:
    _check_bucket(ctx)
    default = parse_configuration(await ctx.read_body())
    kms = default.get("kms")
    if kms is not None and not ctx.services.objects.has_kms_key(kms):
        raise KmsNotFound(f"Invalid keyId {kms}")
    await set_default_encryption(ctx.services.buckets, ctx.bucket, default)
    return Response()


async def delete_bucket_encryption(ctx: RequestContext) -> Response:
    _check_bucket(ctx)
    await set_default_encryption(ctx.services.buckets, ctx.bucket, None)
    return Response(status_code=204)


def _check_bucket(ctx: RequestContext) -> None:
    if ctx.access.bucket is None:
        raise NoSuchBucket(BucketName=ctx.bucket)
