"""PostObject: an HTML form upload (S3's "browser-based upload"), stored as PutObject stores.

Authentication has already read the form up to its file and checked its policy
(``gateway.auth.post_policy.read_upload``, hooked into ``gateway/app.py``). What is left
is PutObject with the form's fields in the place of headers: the fields S3 takes as
object headers (Content-Type, Cache-Control, ..., ``x-amz-meta-*``, ``x-amz-checksum-*``,
Content-MD5), ``acl`` as ``x-amz-acl`` and ``tagging`` as ``x-amz-tagging``, and the file
as the body. So the upload runs through ``object.put_object`` itself, with whatever it
checks and stores, and streams like it: the content-length-range is checked as the file
arrives, so an upload over it is refused before anything is committed.

The answer is S3's: 204 by default, ``success_action_status`` 200 or 201 (with a
PostResponse document), or a 303 to ``success_action_redirect`` (``redirect``, its old
name) carrying the bucket, key and ETag.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

from starlette.responses import Response

from gateway.auth.body import BodyReader
from gateway.auth.post_policy import PostUpload, limit_length
from gateway.auth.sigv4 import UNSIGNED_PAYLOAD
from gateway.context import RequestContext
from gateway.handlers import object as object_handlers
from gateway.wire.form import post_response, redirect_location, tagging_query
from gateway.wire.headers import META_PREFIX, STORED_HEADERS

__all__ = ["post_object"]

# Fields that are headers of the stored object or of its PutObject, under the same name.
_AS_HEADERS = frozenset(STORED_HEADERS) | {"content-md5", "x-amz-storage-class"}
_AS_HEADER_PREFIXES = (
    META_PREFIX,
    "x-amz-checksum-",
    "x-amz-server-side-encryption",
    "x-amz-object-lock-",
)
_SUCCESS_STATUSES = {"200": 200, "201": 201, "204": 204}


async def post_object(ctx: RequestContext) -> Response:
    upload: PostUpload = ctx.request.state.post_upload
    headers = put_headers(upload.fields)
    body_auth = dataclasses.replace(ctx.auth, payload_mode=UNSIGNED_PAYLOAD, chunk_signing=None)
    file = limit_length(upload.form.file(), upload.length_range)
    put_ctx = dataclasses.replace(
        ctx,
        headers=headers,
        _reader=BodyReader(file, body_auth, headers, check_md5=False),
    )
    stored = await object_handlers.put_object(put_ctx)
    return _answer(ctx, upload, stored.headers["etag"], _checksum_headers(stored))


def put_headers(fields: dict[str, str]) -> dict[str, str]:
    """The headers a PutObject of this form would have carried."""
    headers = {
        name: _as_header_value(value)
        for name, value in fields.items()
        if name in _AS_HEADERS or name.startswith(_AS_HEADER_PREFIXES)
    }
    if "acl" in fields:
        headers["x-amz-acl"] = fields["acl"]
    if "tagging" in fields:
        headers["x-amz-tagging"] = tagging_query(fields["tagging"])
    return headers


def _as_header_value(value: str) -> str:
    """A field's text as a header value arrives: one character per byte of its UTF-8, so
    that what is stored, and sent back, is what a PutObject with the same bytes stores."""
    return value.encode("utf-8").decode("latin-1")


def _checksum_headers(stored: Response) -> dict[str, str]:
    return {
        k: v
        for k, v in stored.headers.items()
        if k.startswith(("x-amz-checksum-", "x-amz-server-side-encryption"))
        or k == "x-amz-version-id"  # the new version's id
    }


def _answer(ctx: RequestContext, upload: PostUpload, etag: str, extra: dict[str, str]) -> Response:
    fields = upload.fields
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect:
        location = redirect_location(redirect, ctx.bucket, upload.key, etag)
        return Response(status_code=303, headers={"location": location, "etag": etag, **extra})
    location = _object_url(ctx, upload.key)
    headers = {"location": location, "etag": etag, **extra}
    status = _SUCCESS_STATUSES.get(fields.get("success_action_status", ""), 204)
    if status == 201:
        body = post_response(location, ctx.bucket, upload.key, etag)
        return Response(body, status_code=201, headers=headers, media_type="application/xml")
    return Response(status_code=status, headers=headers)


def _object_url(ctx: RequestContext, key: str) -> str:
    """Where the new object is, as the client addressed the bucket."""
    url = ctx.request.url
    path = ctx.request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0]
    prefix = path.rstrip("/")  # "/bucket" path style, "" virtual-host style
    return f"{url.scheme}://{url.netloc}{prefix}/{quote(key, safe='/')}"
