"""OPTIONS on a bucket or object: a browser's CORS preflight, answered from the bucket's
CORS rules (gateway/handlers/cors.py).

A preflight carries no credentials, so it is answered before authentication. A preflight
without an Origin, or whose Access-Control-Request-Method is not one CORS rules can allow,
is a 400 BadRequest with S3's messages. A bucket without CORS rules refuses every
preflight as S3 does: 403 AccessForbidden "CORSResponse: CORS is not enabled for this
bucket.", naming the method and the resource type; one whose rules do not allow the
origin, method and requested headers answers 403 with S3's "not allowed" text. An allowed
preflight is a 200 with the Access-Control-* headers, Max-Age when the rule sets one.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from gateway.context import Services
from gateway.errors import AccessForbidden, BadRequest
from gateway.handlers.cors import allow_headers, bucket_rules, matching_rule, requested_headers

CORS_METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"})
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution "
    "of Origin, request method / Access-Control-Request-Method or "
    "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
)


def check_request(headers: Mapping[str, str]) -> tuple[str, str]:
    """(origin, method) of a well-formed preflight; ``headers`` lower-case."""
    origin = headers.get("origin")
    if not origin:
        raise BadRequest("Insufficient information. Origin request header needed.")
    method = headers.get("access-control-request-method")
    if method not in CORS_METHODS:
        shown = "null" if method is None else method
        raise BadRequest(f"Invalid Access-Control-Request-Method: {shown}")
    return origin, method


async def answer(
    services: Services, bucket: str | None, key: str | None, headers: Mapping[str, str]
) -> Response:
    """The answer to a preflight for ``key`` (None: the bucket) in ``bucket``."""
    origin, method = check_request(headers)
    resource = "BUCKET" if key is None else "OBJECT"
    rules = await bucket_rules(services, bucket) if bucket is not None else None
    if not rules:
        raise AccessForbidden(Method=method, ResourceType=resource)
    wanted = requested_headers(headers.get("access-control-request-headers"))
    rule = matching_rule(rules, origin, method, wanted)
    if rule is None:
        raise AccessForbidden(NOT_ALLOWED, Method=method, ResourceType=resource)
    out = allow_headers(rule, origin)
    if wanted:
        out["access-control-allow-headers"] = ", ".join(wanted)
    if rule.max_age is not None:
        out["access-control-max-age"] = str(rule.max_age)
    return Response(headers=out)
