"""OPTIONS on a bucket or object: a browser's CORS preflight.

A preflight carries no credentials, so it is answered before authentication. Cairn has no
bucket CORS configuration (yet), so every well-formed preflight is refused as S3 refuses
one for a bucket without CORS: 403 AccessForbidden "CORSResponse: CORS is not enabled for
this bucket.", naming the method and the resource type. A preflight without an Origin, or
whose Access-Control-Request-Method is not one CORS rules can allow, is a 400 BadRequest
with S3's messages.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.errors import AccessForbidden, BadRequest, S3Error

CORS_METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"})


def refusal(key: str | None, headers: Mapping[str, str]) -> S3Error:
    """The answer to a preflight for ``key`` (None: the bucket); ``headers`` lower-case."""
    if not headers.get("origin"):
        return BadRequest("Insufficient information. Origin request header needed.")
    method = headers.get("access-control-request-method")
    if method not in CORS_METHODS:
        shown = "null" if method is None else method
        return BadRequest(f"Invalid Access-Control-Request-Method: {shown}")
    return AccessForbidden(Method=method, ResourceType="BUCKET" if key is None else "OBJECT")
