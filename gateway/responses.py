"""ObjectStream: the body of a GET, streamed block by block.

Starlette's StreamingResponse opens an anyio task group per response to watch for a
client disconnect; on small GETs that cost more than the rest of the request. Here a
plain task watches for the disconnect (uvicorn's send() silently drops data for a gone
client, so without it a large object would be read to the end for nobody), and objects
small enough to live in metadata skip streaming altogether (see handlers/object.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class ObjectStream(Response):
    def __init__(
        self, chunks: AsyncIterator[bytes], status_code: int, headers: Mapping[str, str]
    ) -> None:
        self.chunks = chunks
        self.status_code = status_code
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        watcher = asyncio.create_task(watch())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            async for chunk in self.chunks:
                if gone.is_set():
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                del chunk  # a pooled block buffer is free again once the socket has sent it
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()
