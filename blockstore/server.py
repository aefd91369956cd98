"""A storage node: any BlockStore served over HTTP to the gateways (`cairn node`).

    PUT    /blocks/<id>                  store the body (its hash must be <id>)
    GET    /blocks/<id>[?start=&end=]    the block or a byte range of it, with the CRC32C
                                         of the body in x-cairn-crc32c
    DELETE /blocks/<id>
    POST   /has                          body: ids (32 bytes each) -> one byte 0/1 per id
    GET    /list?start=&end=&limit=      ids in [start, end), concatenated
    GET    /stats                        JSON: node id, capacity, used, blocks
    GET    /health                       liveness, unauthenticated
    GET    /_cairn/health/live           liveness (200), unauthenticated, as on a gateway
    GET    /_cairn/health/ready          200 when the store answers and (with --meta) the
                                         last heartbeat reached the metadata; else 503
    GET    /metrics                      Prometheus metrics (blockstore/node_metrics.py)

Ids are hex in URLs. Every request but the health checks and /metrics must carry a
signature made with this node's key for this node's address, never seen before
(blockstore.auth). Those three say nothing about the blocks a node holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeAlias

import crc32c
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blockstore import auth
from blockstore.address import ID_SIZE, THREAD_THRESHOLD
from blockstore.api import BlockCorrupt, BlockNotFound, BlockStore, BlockStoreFull
from blockstore.scrub import ScrubProgress

MAX_BLOCK = 64 << 20
CRC_HEADER = "x-cairn-crc32c"  # GET answers: CRC32C of the body, decimal


def _id(hexid: str) -> bytes | None:
    try:
        raw = bytes.fromhex(hexid)
    except ValueError:
        return None
    return raw if len(raw) == ID_SIZE else None


Handler: TypeAlias = Callable[[Request], Awaitable[Response]]


def _guard(verifier: auth.Verifier, handler: Handler) -> Handler:
    """The one place signatures are checked: every route but /health goes through here, so
    a new route cannot forget it. A body other than a block's is read first, since the
    signature covers its hash (a block's id in the path is its hash)."""

    async def guarded(request: Request) -> Response:
        url = request.url
        path_qs = url.path + (("?" + url.query) if url.query else "")
        method = request.method
        body = None
        if not (method == "PUT" and url.path.startswith("/blocks/")):
            body = await request.body()  # small (ids); cached for the handler
        digest = auth.body_digest(method, url.path, body)
        if not verifier.verify(method, path_qs, digest, request.headers.get(auth.HEADER)):
            return Response("unauthorized", status_code=403)
        return await handler(request)

    return guarded


class _Node:
    """The node's request handlers over one store."""

    def __init__(
        self,
        store: BlockStore,
        node_id: str,
        registered: Callable[[], bool] | None = None,
        scrub: ScrubProgress | None = None,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self.registered = registered
        self.scrub = scrub or ScrubProgress()

    async def blocks(self, request: Request) -> Response:
        bid = _id(request.path_params["id"])
        if bid is None:
            return Response("bad block id", status_code=400)
        if request.method == "PUT":
            return await self._put(request, bid)
        if request.method == "DELETE":
            await self.store.delete(bid)
            return Response(status_code=204)
        return await self._get(request, bid)

    async def _put(self, request: Request, bid: bytes) -> Response:
        # Pieces joined once at the end: growing a bytearray and copying it into bytes
        # moved every byte of a 4 MiB block two or three times.
        pieces, size = [], 0
        async for piece in request.stream():
            pieces.append(piece)
            size += len(piece)
            if size > MAX_BLOCK:
                return Response("block too large", status_code=413)
        try:
            await self.store.put(bid, b"".join(pieces))
        except BlockCorrupt:
            return Response("hash mismatch", status_code=422)
        except BlockStoreFull:
            return Response("node full", status_code=507)
        return Response(status_code=204)

    async def _get(self, request: Request, bid: bytes) -> Response:
        start = int(request.query_params.get("start", "0"))
        end_q = request.query_params.get("end")
        try:
            data = await self.store.get(bid, start, int(end_q) if end_q is not None else None)
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

    async def has(self, request: Request) -> Response:
        body = await request.body()
        ids = [body[i : i + ID_SIZE] for i in range(0, len(body), ID_SIZE)]
        return Response(bytes(1 if h else 0 for h in await self.store.has(ids)))

    async def list_ids(self, request: Request) -> Response:
        q = request.query_params
        start = bytes.fromhex(q.get("start", ""))
        end = bytes.fromhex(q.get("end", "ff" * (ID_SIZE + 1)))
        limit = min(int(q.get("limit", "1000")), 100_000)
        return Response(b"".join(await self.store.list_ids(start, end, limit)))

    async def stats(self, request: Request) -> Response:
        s = await self.store.stats()
        body = {"node_id": self.node_id, "capacity": s.capacity, "used": s.used, "blocks": s.blocks}
        return Response(json.dumps(body), media_type="application/json")

    async def health(self, request: Request) -> Response:
        body = {"node_id": self.node_id, "ok": True}
        return Response(json.dumps(body), media_type="application/json")

    async def live(self, request: Request) -> Response:
        return _json(200, {"node_id": self.node_id, "ok": True, "status": "live"})

    async def ready(self, request: Request) -> Response:
        """Ready: the store answers its stats within READY_TIMEOUT, and a node that
        registers in the metadata has its lease (its last heartbeat got through)."""
        body: dict[str, object] = {"node_id": self.node_id}
        try:
            await asyncio.wait_for(self.store.stats(), READY_TIMEOUT)
            body["store"] = "ok"
        except Exception:  # noqa: BLE001 - any failure means not ready
            body["store"] = "unavailable"
        if self.registered is not None:
            body["meta"] = "ok" if self.registered() else "unreachable"
        body["ok"] = body["store"] == "ok" and body.get("meta", "ok") == "ok"
        return _json(200 if body["ok"] else 503, body)

    async def metrics(self, request: Request) -> Response:
        # Imported here: prometheus_client picks its storage at import, and gateways
        # import this module (for its header names) before they set that up.
        from blockstore import node_metrics

        text = node_metrics.render(self.node_id, await self.store.stats(), self.scrub)
        return Response(text, media_type="text/plain; version=0.0.4")


READY_TIMEOUT = 2.0


def _json(status: int, body: dict[str, object]) -> Response:
    return Response(
        json.dumps(body, sort_keys=True), status_code=status, media_type="application/json",
        headers={"cache-control": "no-store"},
    )  # fmt: skip


def _lifespan(
    background: list[Callable[[], Awaitable[None]]],
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """Runs the background jobs for as long as the app serves."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(job()) for job in background]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return lifespan


def create_node_app(
    store: BlockStore,
    node_id: str,
    key: bytes,
    address: str,
    background: list[Callable[[], Awaitable[None]]] | None = None,
    *,
    registered: Callable[[], bool] | None = None,
    scrub: ScrubProgress | None = None,
) -> Starlette:
    """The node's ASGI app, answering requests signed with ``key`` for ``address`` (its
    ``host:port``); ``background`` jobs (the registry heartbeat) run while it serves.
    ``registered`` says whether the node holds its lease in the metadata (readiness);
    ``scrub`` is its scrub's progress (metrics)."""
    node = _Node(store, node_id, registered, scrub)
    verifier = auth.Verifier(key, address)

    def private(path: str, handler: Handler, method: str, *more: str) -> Route:
        return Route(path, _guard(verifier, handler), methods=[method, *more])

    return Starlette(
        lifespan=_lifespan(background or []),
        routes=[
            private("/blocks/{id}", node.blocks, "GET", "PUT", "DELETE"),
            private("/has", node.has, "POST"),
            private("/list", node.list_ids, "GET"),
            private("/stats", node.stats, "GET"),
            Route("/health", node.health, methods=["GET"]),  # unauthenticated: probes
            Route("/_cairn/health/live", node.live, methods=["GET", "HEAD"]),
            Route("/_cairn/health/ready", node.ready, methods=["GET", "HEAD"]),
            Route("/metrics", node.metrics, methods=["GET"]),
        ],
    )
