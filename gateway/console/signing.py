"""SigV4 signatures for the console's own S3 requests, made with awscrt (the AWS Common
Runtime, already a dependency) rather than with the gateway's verifier, so that a bug in
one is never mirrored by the other.

The console acts as the signed-in user by signing real S3 requests with that user's
keys: the gateway's one authorization step decides what they may do, exactly as for any
other client. The secret stays in this process; the page only ever sees presigned URLs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from awscrt import auth, http

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Keys:
    """An S3 key pair; repr never shows the secret (it could end up in a log)."""

    access_key: str
    secret_key: str

    def __repr__(self) -> str:
        return f"Keys(access_key={self.access_key!r}, secret_key=<hidden>)"


def object_path(bucket: str, key: str = "") -> str:
    """A path-style S3 path with the key URI-encoded as SigV4 wants it (slashes kept)."""
    path = "/" + quote(bucket, safe="")
    if key:
        path += "/" + quote(key, safe="/~")
    return path


def query_string(params: Mapping[str, str]) -> str:
    """Parameters in canonical order, encoded as SigV4 encodes them."""
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(params.items()))


def _config(keys: Keys, region: str, **extra: object) -> auth.AwsSigningConfig:
    provider = auth.AwsCredentialsProvider.new_static(keys.access_key, keys.secret_key)
    return auth.AwsSigningConfig(
        credentials_provider=provider,
        region=region,
        service="s3",
        use_double_uri_encode=False,  # S3 signs the path encoded once
        should_normalize_uri_path=False,
        **extra,  # type: ignore[arg-type]
    )


async def sign_headers(
    keys: Keys, region: str, method: str, target: str, headers: Mapping[str, str]
) -> dict[str, str]:
    """The headers of a request to ``target`` (path and query), with its Authorization,
    x-amz-date and x-amz-content-sha256 (an unsigned payload: bodies stream through)."""
    request = http.HttpRequest(method, target, http.HttpHeaders(list(headers.items())))
    config = _config(
        keys,
        region,
        signed_body_value=UNSIGNED_PAYLOAD,
        signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
    )
    signed = await asyncio.wrap_future(auth.aws_sign_request(request, config))
    return dict(signed.headers)


async def presign(
    keys: Keys, region: str, method: str, host: str, target: str, expires: int
) -> str:
    """``target`` with a presigned query (X-Amz-Signature, ...), valid ``expires`` s."""
    request = http.HttpRequest(method, target, http.HttpHeaders([("host", host)]))
    config = _config(
        keys,
        region,
        signature_type=auth.AwsSignatureType.HTTP_REQUEST_QUERY_PARAMS,
        signed_body_value=UNSIGNED_PAYLOAD,
        expiration_in_seconds=expires,
    )
    signed = await asyncio.wrap_future(auth.aws_sign_request(request, config))
    return str(signed.path)
