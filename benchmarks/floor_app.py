"""The floor: the least an S3-shaped starlette+uvicorn server can do for the benchmark requests.

It answers PUT /bucket, PUT/GET/HEAD /bucket/key with no auth, metadata, multipart or fsync:
a PUT streams the body through MD5 into a file (renamed into place when complete), a GET
streams the file back. Same framework, server, HTTP parser and loop as Cairn, so Cairn/floor
says how much of the budget Cairn's own work (auth, blocks, metadata, durability) takes.
Run: FLOOR_DATA=DIR uvicorn benchmarks.floor_app:app --http httptools --loop uvloop
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

ROOT = Path(os.environ.get("FLOOR_DATA", "/tmp/cairn-floor")).resolve()
READ_CHUNK = 1 << 20
SMALL = 1 << 20


def _path(bucket: str, key: str) -> Path:
    # Keys are flattened so "a/b" never collides with a directory; no traversal possible.
    return ROOT / bucket / key.replace("%", "%25").replace("/", "%2F")


async def handle(request: Request) -> Response:
    parts = request.url.path.lstrip("/").split("/", 1)
    bucket, key = parts[0], (parts[1] if len(parts) > 1 else "")
    if not bucket or "/" in bucket or bucket.startswith("."):
        return Response(status_code=400)
    if not key:
        if request.method == "PUT":
            (ROOT / bucket).mkdir(parents=True, exist_ok=True)
            return Response(status_code=200)
        return Response(status_code=501)
    path = _path(bucket, key)
    if request.method == "PUT":
        if not path.parent.is_dir():
            return Response(status_code=404)
        md5 = hashlib.md5()
        tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
        with open(tmp, "wb") as f:
            async for chunk in request.stream():
                md5.update(chunk)
                f.write(chunk)
        os.replace(tmp, path)
        return Response(status_code=200, headers={"ETag": f'"{md5.hexdigest()}"'})
    if request.method not in ("GET", "HEAD"):
        return Response(status_code=405)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the generator below
    except FileNotFoundError:
        return Response(status_code=404)
    size = os.fstat(f.fileno()).st_size
    headers = {"Content-Length": str(size)}
    if request.method == "HEAD" or size <= SMALL:
        with f:
            data = b"" if request.method == "HEAD" else f.read()
        return Response(data, headers=headers, media_type="application/octet-stream")

    async def stream() -> AsyncIterator[bytes]:
        with f:
            while chunk := f.read(READ_CHUNK):
                yield chunk

    return StreamingResponse(stream(), headers=headers, media_type="application/octet-stream")


app = Starlette(
    routes=[Route("/{path:path}", handle, methods=["GET", "HEAD", "PUT", "POST", "DELETE"])]
)
