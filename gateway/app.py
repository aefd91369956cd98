"""The S3 front end: one catch-all route -> resolve -> authenticate -> handler.

S3 dispatch depends on method, query sub-resource and headers, which path patterns can't
express, so Starlette serves one route and gateway.routing names the operation.
Errors of every kind leave here as S3 error XML with the request id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import access_log, health, metrics
from gateway.access_log import AccessLog
from gateway.auth import post_policy
from gateway.auth.sigv4 import UNSIGNED_PAYLOAD
from gateway.auth.verify import AuthResult, SignedRequest, authenticate
from gateway.authz.step import Access, Authorizer
from gateway.context import RequestContext, Services
from gateway.encryption import check_request
from gateway.errors import (
    AccessDenied,
    InvalidAccessKeyId,
    MissingContentLength,
    NotModified,
    SignatureDoesNotMatch,
    from_internal,
)
from gateway.handlers import HANDLERS, cors, preflight
from gateway.handlers.post_object import put_headers
from gateway.keyring import KeyRing
from gateway.routing import PREFLIGHT, Endpoint, resolve, split_path
from gateway.wire.error import error_document

log = logging.getLogger("cairn.gateway")

Handler = Callable[[RequestContext], Awaitable[Response]]
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"]


def _headers(request: Request) -> dict[str, str]:
    """Lower-case names; a repeated header's values joined by commas, in order (collected
    and joined once, so many repeats cost linear time)."""
    out: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    for k, v in request.scope["headers"]:
        name = k.decode("latin-1").lower()
        value = v.decode("latin-1")
        if name not in out:
            out[name] = value
        elif name in repeated:
            repeated[name].append(value)
        else:
            repeated[name] = [out[name], value]
    for name, values in repeated.items():
        out[name] = ",".join(values)
    return out


def _resource(endpoint_path: str) -> str:
    return unquote(endpoint_path)


def create_app(
    services: Services,
    keyring: KeyRing,
    *,
    domain: str | None = None,
    background: list[Callable[[], Awaitable[None]]] | None = None,
    access: AccessLog | None = None,
    readiness: health.Readiness | None = None,
) -> Starlette:
    """The ASGI app. ``keyring`` knows the access keys; ``background`` tasks (GC,
    membership, key refresh) run for the app's lifetime. ``access``: where each request
    is logged (none: not logged); ``readiness``: what /_cairn/health/ready checks."""

    authorizer = Authorizer(keyring, services.objects, services.owner_id)
    jobs = [*(background or []), *([access.run] if access is not None else [])]

    async def handle(request: Request) -> Response:
        if health.is_health_path(request.scope["path"]):  # before any authentication
            return await health.answer(request.scope["path"], request.method, readiness)
        started = time.perf_counter()
        trace = _Trace()
        response = await _handle(request, services, keyring, authorizer, domain, trace)
        _account(request, response, trace, started, keyring, access)
        if trace.endpoint is not None and trace.endpoint.op in access_log.AUDITED:
            await _audit(services, keyring, trace, response.status_code)
        return response

    routes = [Route("/{path:path}", handle, methods=METHODS)]
    return Starlette(routes=routes, lifespan=_lifespan(jobs))


class _Trace:
    """What a request turned out to be, for its metrics and its access-log line: filled
    in by _handle as it learns it."""

    __slots__ = ("request_id", "endpoint", "access_key", "user", "error", "content_length")

    def __init__(self) -> None:
        self.request_id = ""
        self.content_length: str | None = None
        self.endpoint: Endpoint | None = None
        self.access_key = ""  # the key the request named (authenticated or not)
        self.user: str | None = None  # its user's name, once authorization named it
        self.error = ""  # the S3 error code of a failure


def _account(
    request: Request,
    response: Response,
    trace: _Trace,
    started: float,
    keyring: KeyRing,
    access: AccessLog | None,
) -> None:
    """Count and time the request (metrics) and log it (the access log)."""
    if access is None and not metrics.enabled():
        return
    seconds = time.perf_counter() - started
    ep = trace.endpoint
    operation = ep.op if ep is not None else "Unresolved"
    bytes_in = _length(trace.content_length)
    bytes_out = 0 if request.scope["method"] == "HEAD" else _response_length(response)
    status = response.status_code
    metrics.observe(operation, status, seconds, bytes_in, bytes_out)
    if access is None:
        return
    user = trace.user
    if user is None:  # refused before authorization: look the key's user up
        ident = keyring.identity(trace.access_key) if trace.access_key else None
        user = ident.display_name if ident else ""
    client = request.scope.get("client")  # (host, port): Request.client builds a tuple
    # An access_log.Entry, built in place (access_log.line's fields, in its order).
    access.add((
        time.time(), trace.request_id, client[0] if client else "", trace.access_key,
        user, operation, (ep.bucket or "") if ep else "",
        (ep.key or "") if ep else "", status, trace.error, bytes_in, bytes_out, seconds,
    ))  # fmt: skip


async def _audit(services: Services, keyring: KeyRing, trace: _Trace, status: int) -> None:
    """An access change that succeeded goes into the audit trail: who, what, where."""
    ep = trace.endpoint
    if ep is None or status >= 300:
        return
    ident = keyring.identity(trace.access_key) if trace.access_key else None
    who = f"{trace.access_key} ({ident.display_name})" if ident else trace.access_key
    target = f"{ep.bucket}/{ep.key}" if ep.key else str(ep.bucket)
    try:
        await services.objects.audit(who or "anonymous", ep.op, target)
    except Exception:  # noqa: BLE001 - the change stands; its trail entry is lost
        log.warning("audit entry for request %s not written", trace.request_id, exc_info=True)


def _length(value: str | None) -> int:
    return int(value) if value is not None and value.isdigit() else 0


def _response_length(response: Response) -> int:
    """The body's length when the response holds it (as Content-Length says), else the
    Content-Length header (a streamed body)."""
    body = getattr(response, "body", None)
    if body is not None:
        return len(body)
    for name, value in response.raw_headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


async def _handle(
    request: Request,
    services: Services,
    keyring: KeyRing,
    authorizer: Authorizer,
    domain: str | None,
    trace: _Trace,
) -> Response:
    """One request, start to end: every outcome is a response; ``trace`` learns what it
    was (operation, key, error code) for the caller to count and log."""
    request_id = trace.request_id = os.urandom(8).hex().upper()
    scope = request.scope
    raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
    raw_path = raw_path.split("?", 1)[0]
    raw_query = scope.get("query_string", b"").decode("latin-1")
    headers = _headers(request)
    trace.content_length = headers.get("content-length")
    operation = "Unresolved"
    try:
        endpoint = resolve(request.method, raw_path, raw_query, headers.get("host"), domain)
        endpoint = trace.endpoint = _refine(endpoint, headers)
        operation = endpoint.op
        _check_framing(endpoint, headers)
        if endpoint.op == PREFLIGHT:  # unauthenticated by design (CORS)
            response = await preflight.answer(services, endpoint.bucket, endpoint.key, headers)
            return _finish(response, request_id)
        if endpoint.op == "PostObject":  # a browser form: its credentials are form fields
            endpoint, headers, auth, signed = await _authenticate_post(
                request, endpoint, headers, keyring
            )
            trace.endpoint, trace.access_key = endpoint, auth.access_key
        else:
            signed = _is_signed(headers, raw_query)
            trace.access_key = _access_key_of(headers, raw_query) if signed else ""
            auth = (
                await _authenticate(
                    keyring, request.method, raw_path, raw_query, headers, services.region
                )
                if signed
                else ANONYMOUS_AUTH
            )
        # The one authorization step: no handler decides access (gateway/authz/).
        access = await authorizer.authorize(
            endpoint,
            headers,
            auth.access_key if signed else None,
            request.client.host if request.client else None,
            scope.get("scheme") == "https",
        )
        trace.user = access.caller.display_name or ""
        _check_expected_owners(endpoint, headers, access)
        secure = scope.get("scheme") == "https" or services.ssec_over_http
        check_request(endpoint.op, headers, secure)  # bad SSE input: refused, nothing stored
        await _bucket_before_continue(endpoint, headers, services)
        ctx = RequestContext(request, request_id, endpoint, headers, auth, services, access)
        response = await HANDLERS[endpoint.op](ctx)
    except NotModified as exc:
        response = Response(status_code=304, headers=exc.headers)
    except Exception as exc:  # noqa: BLE001 - every failure becomes S3 error XML
        response, trace.error = _error_response(exc, request, request_id, raw_path, headers)
    if operation != PREFLIGHT:
        await _add_cors_headers(response, request.method, headers, raw_path, services, domain)
    return _finish(response, request_id)


def _finish(response: Response, request_id: str) -> Response:
    """The request id and server headers on every response."""
    rid = request_id.encode()
    response.raw_headers += [
        (b"x-amz-request-id", rid),
        (b"x-amz-id-2", rid),
        (b"server", b"Cairn"),
    ]
    return response


async def _add_cors_headers(
    response: Response,
    method: str,
    headers: Mapping[str, str],
    raw_path: str,
    services: Services,
    domain: str | None,
) -> None:
    """CORS on an actual request (not a preflight): a request with an Origin to a bucket
    whose rules allow that origin and method gets the Access-Control-* headers and Vary,
    on success and on errors alike, as S3 sends them (the browser needs them to let the
    page read an error too). The method matched is Access-Control-Request-Method when
    the request carries one, else its own."""
    origin = headers.get("origin")
    if not origin:
        return
    try:
        bucket, _ = split_path(raw_path, headers.get("host"), domain)
        rules = await cors.bucket_rules(services, bucket) if bucket else None
    except Exception:  # noqa: BLE001 - a path that does not resolve has no CORS rules
        return
    if not rules:
        return
    wanted = headers.get("access-control-request-method") or method
    rule = cors.matching_rule(rules, origin, wanted)
    if rule is not None:
        response.raw_headers += [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in cors.allow_headers(rule, origin).items()
        ]


async def _authenticate(
    keyring: KeyRing,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    region: str,
) -> AuthResult:
    """The request's signature checked (SigV4 scopes must name ``region``); an unknown key
    may have just been created, so the key ring looks again once before the request is
    refused."""
    signed = SignedRequest(method, raw_path, raw_query, headers)
    try:
        return authenticate(signed, keyring.secret_for, region=region)
    except (InvalidAccessKeyId, SignatureDoesNotMatch) as exc:
        # A signature made with a key's new secret may reach us before the next refresh.
        known_too = isinstance(exc, SignatureDoesNotMatch)
        if not await keyring.refresh_for(_access_key_of(headers, raw_query), known_too=known_too):
            raise
        return authenticate(signed, keyring.secret_for, region=region)


async def _authenticate_post(
    request: Request, endpoint: Endpoint, headers: dict[str, str], keyring: KeyRing
) -> tuple[Endpoint, dict[str, str], AuthResult, bool]:
    """PostObject: the form is read up to its file (which stays unread, for the handler)
    and its signed policy checked. Authorization then sees the upload as a PutObject: the
    endpoint names the form's key, and the form's fields stand where PutObject's headers
    would (x-amz-acl from ``acl``, ...). A form without a policy is anonymous. Returns
    (endpoint, headers, auth, signed)."""
    assert endpoint.bucket is not None
    upload = await post_policy.read_upload(
        request.stream(),
        headers.get("content-type", ""),
        endpoint.bucket,
        keyring.secret_for,
        keyring.refresh_for,
    )
    request.state.post_upload = upload  # for gateway/handlers/post_object.py
    endpoint = Endpoint(endpoint.op, endpoint.bucket, upload.key, endpoint.query)
    headers = {**headers, **put_headers(upload.fields)}
    if upload.auth is None:
        return endpoint, headers, ANONYMOUS_AUTH, False
    return endpoint, headers, upload.auth, True


def _error_response(
    exc: Exception, request: Request, request_id: str, raw_path: str, headers: dict[str, str]
) -> tuple[Response, str]:
    """Any failure as the S3 error a client sees (from_internal maps it once), and its
    error code."""
    err = from_internal(exc)
    if err.code == "InternalError":
        log.exception("request %s failed", request_id)
    elif err.status == 503:
        log.warning("request %s: %s: %r", request_id, err.code, exc)
    err.resource = err.resource or _resource(raw_path)
    body = b"" if request.method == "HEAD" else error_document(err, request_id)
    response = Response(
        body,
        status_code=err.status,
        media_type="application/xml",
        headers=err.headers,
    )
    if _body_unread(request, headers):
        # The client may be waiting for "100 Continue" before it sends the body, or
        # still sending it: the connection's framing is unknown, so end it.
        response.headers["connection"] = "close"
    return response, err.code


def _lifespan(
    background: list[Callable[[], Awaitable[None]]],
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """Runs the background tasks while the app serves; cancels them when it stops."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(job()) for job in background]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    return lifespan


def _access_key_of(headers: Mapping[str, str], raw_query: str) -> str:
    """The access key a request names, for a key-ring refresh (parsing only, no checks)."""
    m = re.search(r"Credential=([^/,\s]+)", headers.get("authorization", ""))
    if m is None:
        m = re.search(r"(?:X-Amz-Credential|AWSAccessKeyId)=([^%/&]+)", raw_query)
    if m is None:
        m = re.match(r"AWS ([^:]+):", headers.get("authorization", ""))
    return m.group(1) if m else ""


def _body_unread(request: Request, headers: Mapping[str, str]) -> bool:
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    return has_body and not getattr(request, "_stream_consumed", False)


def _check_expected_owners(endpoint: Endpoint, headers: Mapping[str, str], access: Access) -> None:
    """x-amz-expected-bucket-owner (and x-amz-source-expected-bucket-owner of a copy's
    source): a request that expects another account to own the bucket is refused before
    it touches anything, as S3 does."""
    if endpoint.bucket is None or endpoint.op == "CreateBucket":
        return
    owners = [("x-amz-expected-bucket-owner", access.bucket.owner.id if access.bucket else None)]
    if endpoint.op in ("CopyObject", "UploadPartCopy"):
        owners.append(("x-amz-source-expected-bucket-owner", access.source_owner))
    for name, owner in owners:
        expected = headers.get(name)
        if expected is not None and owner is not None and expected != owner:
            raise AccessDenied()


_SIGNATURE_QUERY = (
    "X-Amz-Signature=",
    "X-Amz-Credential=",
    "X-Amz-Algorithm=",
    "Signature=",
    "AWSAccessKeyId=",
)
ANONYMOUS_AUTH = AuthResult("", UNSIGNED_PAYLOAD, None)


def _is_signed(headers: Mapping[str, str], raw_query: str) -> bool:
    """A request with no Authorization header and no signature in its query is
    anonymous: served where an ACL or a bucket policy allows it."""
    if "authorization" in headers:
        return True
    return any(part.startswith(_SIGNATURE_QUERY) for part in raw_query.split("&"))


async def _bucket_before_continue(
    endpoint: Endpoint, headers: Mapping[str, str], services: Services
) -> None:
    """A client that sent Expect: 100-continue holds its body back until the server asks
    for it, which happens when a handler first reads it. A write to a bucket that does not
    exist is refused before that (NoSuchBucket, no 100 Continue, no body sent), as S3 does;
    otherwise PutObject would learn it only at its commit, after the whole body."""
    if (
        endpoint.bucket is not None
        and endpoint.op != "CreateBucket"
        and "100-continue" in headers.get("expect", "").lower()
    ):
        await services.buckets.region(endpoint.bucket)


def _check_framing(endpoint: Endpoint, headers: Mapping[str, str]) -> None:
    """An object upload with neither Content-Length nor chunked encoding: 411
    MissingContentLength, as S3 answers. HTTP reads such a request as bodyless, so the
    body the client goes on to send would be taken for the next request: the connection
    closes after the answer. (A bodyless PUT such as CreateBucket needs no length.)"""
    if endpoint.op in ("PutObject", "UploadPart") and not (
        "content-length" in headers or "transfer-encoding" in headers
    ):
        raise MissingContentLength(headers={"connection": "close"})


def _refine(endpoint: Endpoint, headers: Mapping[str, str]) -> Endpoint:
    """Operations told apart by a header rather than the URL."""
    if "x-amz-copy-source" in headers:
        if endpoint.op == "PutObject":
            return Endpoint("CopyObject", endpoint.bucket, endpoint.key, endpoint.query)
        if endpoint.op == "UploadPart":
            return Endpoint("UploadPartCopy", endpoint.bucket, endpoint.key, endpoint.query)
    return endpoint
