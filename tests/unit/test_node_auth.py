"""The storage node's one HMAC guard: every route but /health refuses a request without the
cluster secret's signature, or with a wrong or stale one; signed requests go through."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from blockstore import auth
from blockstore.address import block_id
from blockstore.lmdb_store import LmdbBlockStore
from blockstore.server import create_node_app

SECRET = "cluster-secret"
BODY = b"a block"
BID = block_id(BODY).hex()
PRIVATE = [
    ("PUT", f"/blocks/{BID}"),
    ("GET", f"/blocks/{BID}"),
    ("GET", f"/blocks/{BID}?start=1&end=3"),
    ("DELETE", f"/blocks/{BID}"),
    ("POST", "/has"),
    ("GET", "/list?start=&end=ff&limit=10"),
    ("GET", "/stats"),
]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = LmdbBlockStore(tmp_path / "blocks")
    app = create_node_app(store, "node-test", SECRET)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://node"
    ) as client:
        yield client
    await store.close()


def _signed(method: str, path_qs: str, secret: str = SECRET, now: float | None = None) -> dict:
    return {auth.HEADER: auth.sign(secret, method, path_qs, now)}


async def test_every_private_route_refuses_missing_wrong_or_stale_signatures(
    node: httpx.AsyncClient,
) -> None:
    stale = time.time() - 2 * auth.MAX_SKEW
    for method, path in PRIVATE:
        for headers in (
            {},
            _signed(method, path, secret="wrong"),
            _signed(method, path, now=stale),
            _signed("GET" if method != "GET" else "PUT", path),  # signed for another method
        ):
            resp = await node.request(method, path, headers=headers, content=BODY)
            assert resp.status_code == 403, (method, path, headers)


async def test_signed_requests_go_through_and_health_needs_none(node: httpx.AsyncClient) -> None:
    path = f"/blocks/{BID}"
    assert (await node.put(path, content=BODY, headers=_signed("PUT", path))).status_code == 204
    got = await node.get(path, headers=_signed("GET", path))
    assert got.status_code == 200 and got.content == BODY
    ranged = f"{path}?start=1&end=3"
    assert (await node.get(ranged, headers=_signed("GET", ranged))).content == BODY[1:3]
    bad = "/blocks/zz"
    assert (await node.get(bad, headers=_signed("GET", bad))).status_code == 400
    assert (await node.get("/health")).json() == {"node_id": "node-test", "ok": True}


async def test_digest_route_is_gone(node: httpx.AsyncClient) -> None:
    path = "/digest?start=&end=ff"
    assert (await node.get(path, headers=_signed("GET", path))).status_code == 404
