"""Bucket CORS: Put/Get/DeleteBucketCors, and the rule matching that preflights
(gateway/handlers/preflight.py) and actual requests (gateway/app.py) share.

A rule matches when one of its AllowedOrigin patterns matches the Origin (a pattern holds
at most one ``*``, standing for any run of characters), the method is one of its
AllowedMethod, and every requested header matches an AllowedHeader pattern (headers are
compared case-insensitively). The first matching rule decides, as on AWS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.responses import Response

from gateway.context import RequestContext, Services
from gateway.errors import NoSuchBucket, NoSuchCORSConfiguration
from gateway.objects.buckets import cors_rules, set_cors_rules
from gateway.wire.cors import CorsRule, parse_cors, render_cors

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


def pattern_matches(pattern: str, value: str) -> bool:
    """``value`` fits ``pattern``, whose one ``*`` (if any) matches any characters."""
    if "*" not in pattern:
        return pattern == value
    head, tail = pattern.split("*", 1)
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def requested_headers(value: str | None) -> list[str]:
    """Access-Control-Request-Headers as lower-case names."""
    if not value:
        return []
    return [h.strip().lower() for h in value.split(",") if h.strip()]


def matching_rule(
    rules: Sequence[CorsRule], origin: str, method: str, headers: Iterable[str] = ()
) -> CorsRule | None:
    """The first rule that allows ``origin`` to send ``method`` with ``headers``."""
    wanted = list(headers)
    for rule in rules:
        if method not in rule.methods:
            continue
        if not any(pattern_matches(o, origin) for o in rule.origins):
            continue
        allowed = [h.lower() for h in rule.headers]
        if all(any(pattern_matches(a, h) for a in allowed) for h in wanted):
            return rule
    return None


def allow_headers(rule: CorsRule, origin: str) -> dict[str, str]:
    """The Access-Control-* headers a matching rule puts on any response: a rule open to
    every origin (``*``) answers ``*`` and no credentials, otherwise the origin is echoed
    and credentials are allowed."""
    out = {"access-control-allow-methods": ", ".join(rule.methods)}
    if "*" in rule.origins:
        out["access-control-allow-origin"] = "*"
    else:
        out["access-control-allow-origin"] = origin
        out["access-control-allow-credentials"] = "true"
    if rule.expose:
        out["access-control-expose-headers"] = ", ".join(rule.expose)
    out["vary"] = VARY
    return out


async def bucket_rules(services: Services, bucket: str) -> list[CorsRule] | None:
    """The bucket's rules (None: none set or no such bucket)."""
    stored = await cors_rules(services.buckets, bucket)
    return None if stored is None else [CorsRule.from_dict(d) for d in stored]


# ------------------------------------------------------------------ the operations


async def get_bucket_cors(ctx: RequestContext) -> Response:
    rules = await _existing_rules(ctx)
    return Response(render_cors(rules), media_type="application/xml")


async def put_bucket_cors(ctx: RequestContext) -> Response:
    _check_bucket(ctx)
    rules = parse_cors(await ctx.read_body())
    await set_cors_rules(ctx.services.buckets, ctx.bucket, [r.to_dict() for r in rules])
    return Response()


async def delete_bucket_cors(ctx: RequestContext) -> Response:
    _check_bucket(ctx)
    await set_cors_rules(ctx.services.buckets, ctx.bucket, None)
    return Response(status_code=204)


def _check_bucket(ctx: RequestContext) -> None:
    if ctx.access.bucket is None:
        raise NoSuchBucket(BucketName=ctx.bucket)


async def _existing_rules(ctx: RequestContext) -> list[CorsRule]:
    _check_bucket(ctx)
    rules = await bucket_rules(ctx.services, ctx.bucket)
    if rules is None:
        raise NoSuchCORSConfiguration(BucketName=ctx.bucket)
    return rules
