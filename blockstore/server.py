"""A storage node: any BlockStore served over HTTP to the gateways (`cairn node`).

    PUT    /blocks/<id>                  store the body (its hash must be <id>)
    GET    /blocks/<id>[?start=&end=]    the block or a byte range of it, with the CRC32C
                                         of the body in x-cairn-crc32c
    DELETE /blocks/<id>
    POST   /has                          body: ids (32 bytes each) -> one byte 0/1 per id
    GET    /list?start=&end=&limit=      ids in [start, end), concatenated
    GET    /digest?start=&end=           BLAKE3 over the ids in range (anti-entropy)
    GET    /stats                        JSON: node id, capacity, used, blocks
    GET    /health                       liveness, unauthenticated

Ids are hex in URLs. Every request but /health must carry the cluster-secret HMAC.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import crc32c
from blake3 import blake3
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blockstore import auth
from blockstore.address import ID_SIZE, THREAD_THRESHOLD
from blockstore.api import BlockCorrupt, BlockNotFound, BlockStore, BlockStoreFull

MAX_BLOCK = 64 << 20
CRC_HEADER = "x-cairn-crc32c"  # GET answers: CRC32C of the body, decimal


def _id(hexid: str) -> bytes | None:
    try:
        raw = bytes.fromhex(hexid)
    except ValueError:
        return None
    return raw if len(raw) == ID_SIZE else None


def create_node_app(
    store: BlockStore,
    node_id: str,
    secret: str,
    background: list[Callable[[], Awaitable[None]]] | None = None,
) -> Starlette:
    """The node's ASGI app; ``background`` jobs (the registry heartbeat) run while it serves."""

    def authorized(request: Request) -> bool:
        path_qs = request.url.path + (("?" + request.url.query) if request.url.query else "")
        return auth.verify(secret, request.method, path_qs, request.headers.get(auth.HEADER))

    async def blocks(request: Request) -> Response:
        if not authorized(request):
            return Response("unauthorized", status_code=403)
        bid = _id(request.path_params["id"])
        if bid is None:
            return Response("bad block id", status_code=400)
        if request.method == "PUT":
            # Pieces joined once at the end: growing a bytearray and copying it into bytes
            # moved every byte of a 4 MiB block two or three times.
            pieces, size = [], 0
            async for piece in request.stream():
                pieces.append(piece)
                size += len(piece)
                if size > MAX_BLOCK:
                    return Response("block too large", status_code=413)
            try:
                await store.put(bid, b"".join(pieces))
            except BlockCorrupt:
                return Response("hash mismatch", status_code=422)
            except BlockStoreFull:
                return Response("node full", status_code=507)
            return Response(status_code=204)
        if request.method == "DELETE":
            await store.delete(bid)
            return Response(status_code=204)
        start = int(request.query_params.get("start", "0"))
        end_q = request.query_params.get("end")
        try:
            data = await store.get(bid, start, int(end_q) if end_q is not None else None)
        except BlockNotFound:
            return Response(status_code=404)
        except BlockCorrupt:
            return Response("corrupt", status_code=409)
        # The store verified the block; the CRC32C of what is sent lets the gateway check
        # the bytes that arrive at a twentieth of the cost of re-hashing them.
        crc = (
            crc32c.crc32c(data)
            if len(data) < THREAD_THRESHOLD
            else (await asyncio.to_thread(crc32c.crc32c, data))
        )
        return Response(data, media_type="application/octet-stream", headers={CRC_HEADER: str(crc)})

    async def has(request: Request) -> Response:
        if not authorized(request):
            return Response("unauthorized", status_code=403)
        body = await request.body()
        ids = [body[i : i + ID_SIZE] for i in range(0, len(body), ID_SIZE)]
        return Response(bytes(1 if h else 0 for h in await store.has(ids)))

    def _range(request: Request) -> tuple[bytes, bytes]:
        q = request.query_params
        return bytes.fromhex(q.get("start", "")), bytes.fromhex(q.get("end", "ff" * (ID_SIZE + 1)))

    async def list_ids(request: Request) -> Response:
        if not authorized(request):
            return Response("unauthorized", status_code=403)
        start, end = _range(request)
        limit = min(int(request.query_params.get("limit", "1000")), 100_000)
        return Response(b"".join(await store.list_ids(start, end, limit)))

    async def digest(request: Request) -> Response:
        if not authorized(request):
            return Response("unauthorized", status_code=403)
        start, end = _range(request)
        h, count = blake3(), 0
        while True:
            ids = await store.list_ids(start, end, 10_000)
            for i in ids:
                h.update(i)
            count += len(ids)
            if len(ids) < 10_000:
                break
            start = ids[-1] + b"\0"
        return Response(
            json.dumps({"digest": h.hexdigest(), "count": count}), media_type="application/json"
        )

    async def stats(request: Request) -> Response:
        if not authorized(request):
            return Response("unauthorized", status_code=403)
        s = await store.stats()
        body = {"node_id": node_id, "capacity": s.capacity, "used": s.used, "blocks": s.blocks}
        return Response(json.dumps(body), media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(json.dumps({"node_id": node_id, "ok": True}), media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(job()) for job in background or []]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/blocks/{id}", blocks, methods=["GET", "PUT", "DELETE"]),
            Route("/has", has, methods=["POST"]),
            Route("/list", list_ids, methods=["GET"]),
            Route("/digest", digest, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
    )
