"""A node address answered by something that is not a node (a 404 page from whatever took
the port): the block client refuses the answer instead of reading it as block ids.

The fault campaign found a repair/fsck pass looping for ever: a "Not Found" body read as
a block id made all_ids ask again from just after it, and got the same page back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from blockstore.api import BlockStoreUnavailable, all_ids
from blockstore.client import HttpBlockStore


class _NotANode(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.send_response(404)
        self.send_header("content-length", "9")
        self.end_headers()
        self.wfile.write(b"Not Found")

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def not_a_node() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotANode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_404_page_is_no_block_list(not_a_node: str) -> None:
    async def walk() -> list[bytes]:
        store = HttpBlockStore(not_a_node, "secret")
        try:
            return [i async for page in all_ids(store) for i in page]
        finally:
            await store.close()

    with pytest.raises(BlockStoreUnavailable, match="HTTP 404 on list"):
        asyncio.run(asyncio.wait_for(walk(), timeout=10))


def test_a_404_page_is_no_has_answer(not_a_node: str) -> None:
    async def ask() -> list[bool]:
        store = HttpBlockStore(not_a_node, "secret")
        try:
            return await store.has([b"\x01" * 32])
        finally:
            await store.close()

    with pytest.raises(BlockStoreUnavailable, match="HTTP 404 on has"):
        asyncio.run(ask())
