"""The console's web app: static pages plus a small JSON API under /api.

Every bucket and object action is a real S3 request to this gateway signed with the
signed-in user's keys (gateway/console/s3client.py), so S3's one authorization step
decides what the user sees and does. Sign-in itself is such a request: a key pair the
gateway refuses cannot open a session. The cluster view is for admins (see
``ConsoleSources.is_admin``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.console.rates import RateSampler
from gateway.console.s3client import S3Endpoint, S3Failure, UserS3
from gateway.console.sessions import COOKIE, CSRF_HEADER, Session, Sessions
from gateway.console.signing import Keys
from gateway.console.sources import ConsoleSources
from gateway.console.throttle import SignInThrottle

log = logging.getLogger("cairn.console")
STATIC = Path(__file__).parent / "static"
PRESIGN_MAX = 7 * 86400  # SigV4's longest presigned URL
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
# Sign-in failures that mean "wrong key pair", as opposed to the gateway being unwell.
BAD_KEYS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Console:
    """The console's state in its one process: sessions, the S3 endpoint, its sources."""

    def __init__(
        self,
        endpoint: S3Endpoint,
        sources: ConsoleSources,
        *,
        public_s3_url: str | None = None,
        secure_cookie: bool = False,
        sessions: Sessions | None = None,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.sources = sources
        self.public_s3_url = public_s3_url
        self.secure_cookie = secure_cookie
        self.sessions = sessions or Sessions()
        self.throttle = throttle or SignInThrottle()
        totals = sources.request_totals
        self.rates = RateSampler(totals) if totals is not None else None

    def session(self, request: Request) -> Session:
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            raise ApiError(401, "NotSignedIn", "Sign in first")
        return session

    def changing(self, request: Request) -> Session:
        """The session of a state-changing request, which must echo its CSRF token."""
        session = self.session(request)
        if not session.csrf_ok(request.headers.get(CSRF_HEADER)):
            raise ApiError(403, "BadCsrfToken", "Missing or wrong CSRF token")
        return session

    def s3(self, session: Session) -> UserS3:
        return UserS3(self.endpoint, session.keys)

    def s3_url_for(self, request: Request) -> str:
        """The S3 endpoint as the browser reaches it: configured, or the console's own
        host name with the S3 port."""
        if self.public_s3_url:
            return self.public_s3_url
        base = self.endpoint.url.split("://", 1)
        port = base[1].rsplit(":", 1)[-1]
        return f"{base[0]}://{request.url.hostname}:{port}"


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=SECURITY_HEADERS)


def _guarded(
    console: Console, view: Callable[[Console, Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """An API view whose failures answer as JSON: S3's own errors pass through with
    their status and code (so the page shows what S3 decided), the rest are 500s."""

    async def endpoint(request: Request) -> Response:
        try:
            return await view(console, request)
        except ApiError as exc:
            return _json({"error": exc.code, "message": exc.message}, exc.status)
        except S3Failure as exc:
            return _json({"error": exc.code, "message": exc.message}, exc.status)
        except Exception:  # noqa: BLE001 - the page gets a short error, the log the rest
            log.exception("console request %s %s failed", request.method, request.url.path)
            return _json({"error": "InternalError", "message": "The console failed"}, 500)

    return endpoint


def _param(request: Request, name: str, *, required: bool = True) -> str:
    value = request.query_params.get(name, "")
    if required and not value:
        raise ApiError(400, "InvalidArgument", f"Missing parameter {name}")
    return value


async def _form(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "InvalidArgument", "The body must be JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidArgument", "The body must be a JSON object")
    return body


# ------------------------------------------------------------------ sessions


async def sign_in(console: Console, request: Request) -> Response:
    """Open a session if the gateway accepts the key pair (one signed ListBuckets)."""
    form = await _form(request)
    access, secret = str(form.get("access_key", "")).strip(), str(form.get("secret_key", ""))
    if not access or not secret:
        raise ApiError(400, "InvalidArgument", "Give an access key and its secret")
    address = request.client.host if request.client else ""
    wait = console.throttle.retry_after(address, access)
    if wait is not None:  # before the keys are tried: a locked-out guess learns nothing
        return _too_many_sign_ins(wait)
    keys = Keys(access, secret)
    try:
        await UserS3(console.endpoint, keys).list_buckets(limit=1)
    except S3Failure as exc:
        if exc.code in BAD_KEYS:
            console.throttle.failed(address, access)
            raise ApiError(401, "SignInFailed", "Unknown access key or wrong secret") from None
        raise
    console.throttle.succeeded(address, access)
    session_id, session = console.sessions.open(keys, await console.sources.is_admin(access))
    response = _json(_session_view(session))
    response.set_cookie(
        COOKIE, session_id, httponly=True, samesite="strict", secure=console.secure_cookie,
        path="/",
    )  # fmt: skip
    return response


def _too_many_sign_ins(wait: int) -> Response:
    response = _json(
        {"error": "TooManySignIns", "message": f"Too many failed sign-ins; retry in {wait} s"},
        429,
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _session_view(session: Session) -> dict[str, Any]:
    """What the page may know of its session: never the secret."""
    return {"user": session.keys.access_key, "admin": session.admin, "csrf": session.csrf}


async def who_am_i(console: Console, request: Request) -> Response:
    return _json(_session_view(console.session(request)))


async def sign_out(console: Console, request: Request) -> Response:
    console.changing(request)
    console.sessions.close(request.cookies.get(COOKIE))
    response = _json({"signed_out": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


# ------------------------------------------------------------------ buckets


async def buckets(console: Console, request: Request) -> Response:
    """One page of the buckets the user may list, each with its usage counters."""
    session = console.session(request)
    page = await console.s3(session).list_buckets(request.query_params.get("token") or None)
    rows = []
    for b in page.buckets:
        usage = await console.sources.usage(b.name)
        objects, size = usage if usage is not None else (None, None)
        rows.append({"name": b.name, "created": b.created, "objects": objects, "bytes": size})
    return _json({"buckets": rows, "next": page.next_token})


async def create_bucket(console: Console, request: Request) -> Response:
    session = console.changing(request)
    name = str((await _form(request)).get("name", "")).strip()
    if not name:
        raise ApiError(400, "InvalidArgument", "Give a bucket name")
    await console.s3(session).create_bucket(name)
    return _json({"created": name}, 201)


# ------------------------------------------------------------------ objects


async def objects(console: Console, request: Request) -> Response:
    """One page of a delimiter listing under a prefix (never more than one page)."""
    session = console.session(request)
    page = await console.s3(session).list_objects(
        _param(request, "bucket"),
        request.query_params.get("prefix", ""),
        request.query_params.get("token") or None,
    )
    return _json(
        {
            "prefixes": page.prefixes,
            "objects": [o.__dict__ for o in page.objects],
            "next": page.next_token,
        }
    )


async def upload(console: Console, request: Request) -> Response:
    """The request body streamed into the object as it arrives (bounded memory)."""
    session = console.changing(request)
    bucket, key = _param(request, "bucket"), _param(request, "key")
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise ApiError(411, "MissingContentLength", "An upload needs a Content-Length")
    content_type = request.headers.get("content-type") or "application/octet-stream"
    etag = await console.s3(session).put_object(
        bucket, key, request.stream(), int(length), content_type
    )
    return _json({"bucket": bucket, "key": key, "etag": etag}, 201)


async def download(console: Console, request: Request) -> Response:
    """The object streamed from S3 to the browser, as an attachment."""
    session = console.session(request)
    bucket, key = _param(request, "bucket"), _param(request, "key")
    answer = await console.s3(session).open_object(bucket, key)
    name = key.rsplit("/", 1)[-1] or "download"
    headers = {
        **SECURITY_HEADERS,
        "content-disposition": _attachment(name),
        "content-length": answer.headers.get("content-length", ""),
        "etag": answer.headers.get("etag", ""),
    }
    headers = {k: v for k, v in headers.items() if v}

    async def body() -> AsyncIterator[bytes]:
        try:
            async for piece in answer.aiter_raw():
                yield piece
        finally:
            await answer.aclose()

    media = answer.headers.get("content-type", "application/octet-stream")
    return StreamingResponse(body(), headers=headers, media_type=media)


def _attachment(name: str) -> str:
    from urllib.parse import quote

    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


async def delete(console: Console, request: Request) -> Response:
    session = console.changing(request)
    bucket, key = _param(request, "bucket"), _param(request, "key")
    await console.s3(session).delete_object(bucket, key)
    return _json({"deleted": key})


async def presign(console: Console, request: Request) -> Response:
    """A presigned GET URL for the S3 endpoint; the user must be able to read the
    object now (checked with a HEAD as the user), so no dead link is handed out."""
    session = console.changing(request)
    form = await _form(request)
    bucket, key = str(form.get("bucket", "")), str(form.get("key", ""))
    try:
        expires = int(form.get("expires", 3600))
    except (TypeError, ValueError):
        expires = -1
    if not bucket or not key or not 1 <= expires <= PRESIGN_MAX:
        raise ApiError(400, "InvalidArgument", f"bucket, key, expires 1..{PRESIGN_MAX} s")
    s3 = console.s3(session)
    await s3.head_object(bucket, key)
    url = await s3.presigned_get(bucket, key, console.s3_url_for(request), expires)
    return _json({"url": url, "expires": expires})


# ------------------------------------------------------------------ cluster


async def cluster(console: Console, request: Request) -> Response:
    session = console.session(request)
    # Asked again on every request: a key narrowed or deleted since sign-in loses the view.
    session.admin = await console.sources.is_admin(session.keys.access_key)
    if not session.admin:
        raise ApiError(403, "AccessDenied", "The cluster view is for admins")
    snapshot = await console.sources.cluster()
    snapshot["requests"] = console.rates.series() if console.rates else []
    snapshot["sample_seconds"] = console.rates.interval if console.rates else None
    return _json(snapshot)


# ------------------------------------------------------------------ the app


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


API: list[tuple[str, Callable[[Console, Request], Awaitable[Response]], list[str]]] = [
    ("/api/session", sign_in, ["POST"]),
    ("/api/session", who_am_i, ["GET"]),
    ("/api/session", sign_out, ["DELETE"]),
    ("/api/buckets", buckets, ["GET"]),
    ("/api/buckets", create_bucket, ["POST"]),
    ("/api/objects", objects, ["GET"]),
    ("/api/object", download, ["GET"]),
    ("/api/object", upload, ["PUT"]),
    ("/api/object", delete, ["DELETE"]),
    ("/api/presign", presign, ["POST"]),
    ("/api/cluster", cluster, ["GET"]),
]


def _api_routes(console: Console) -> list[Route]:
    """One route per path, dispatching on the method to its view."""
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for path, view, methods in API:
        for method in methods:
            by_path.setdefault(path, {})[method] = _guarded(console, view)

    def dispatch(table: dict[str, Callable[[Request], Awaitable[Response]]]):  # type: ignore[no-untyped-def]
        async def route(request: Request) -> Response:
            return await table[request.method](request)

        return route

    return [Route(p, dispatch(t), methods=list(t)) for p, t in by_path.items()]


def create_console_app(console: Console) -> Starlette:
    routes = [
        Route("/", index),
        *_api_routes(console),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, lifespan=_lifespan(console))


def _lifespan(console: Console):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        import asyncio

        task = asyncio.create_task(console.rates.run()) if console.rates else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await console.endpoint.close()

    return lifespan
