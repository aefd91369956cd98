"""The storage node's one signature guard: every route but /health refuses a request that is
unsigned, signed wrongly, stale, replayed, signed for another node, or made with another
node's key; signed requests go through (issue 14, finding 3)."""

from __future__ import annotations

import hashlib
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
ADDRESS = "node-a:9100"
OTHER = "node-b:9100"
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
    app = create_node_app(store, "node-test", auth.node_key(SECRET, ADDRESS), ADDRESS)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://{ADDRESS}"
    ) as client:
        yield client
    await store.close()


def _signed(
    method: str,
    path_qs: str,
    body: bytes | None = None,
    *,
    secret: str = SECRET,
    address: str = ADDRESS,
    now: float | None = None,
    key: bytes | None = None,
) -> dict[str, str]:
    digest = auth.body_digest(method, path_qs.partition("?")[0], body)
    key = key if key is not None else auth.node_key(secret, address)
    return {auth.HEADER: auth.sign(key, method, address, path_qs, digest, now)}


def _body(method: str) -> bytes | None:
    return BODY if method in ("PUT", "POST") else None


async def test_every_private_route_refuses_missing_wrong_or_stale_signatures(
    node: httpx.AsyncClient,
) -> None:
    stale = time.time() - 2 * auth.MAX_SKEW
    for method, path in PRIVATE:
        body = _body(method)
        for headers in (
            {},
            _signed(method, path, body, secret="wrong"),
            _signed(method, path, body, now=stale),
            _signed("GET" if method != "GET" else "PUT", path, body),  # another method
            _signed(method, path, body, address=OTHER),  # re-targeted: signed for node B
        ):
            resp = await node.request(method, path, headers=headers, content=body)
            assert resp.status_code == 403, (method, path, headers)


async def test_a_replayed_request_is_refused(node: httpx.AsyncClient) -> None:
    """Finding 3: a captured DELETE deleted the block again after it was uploaded anew."""
    path = f"/blocks/{BID}"
    assert (await node.put(path, content=BODY, headers=_signed("PUT", path))).status_code == 204
    delete = _signed("DELETE", path)
    assert (await node.delete(path, headers=delete)).status_code == 204
    assert (await node.put(path, content=BODY, headers=_signed("PUT", path))).status_code == 204
    assert (await node.delete(path, headers=delete)).status_code == 403  # the replay
    got = await node.get(path, headers=_signed("GET", path))
    assert got.status_code == 200 and got.content == BODY


async def test_the_has_body_is_bound_by_its_hash(node: httpx.AsyncClient) -> None:
    ids = bytes.fromhex(BID)
    headers = _signed("POST", "/has", ids)
    assert (await node.post("/has", content=b"\0" * 32, headers=headers)).status_code == 403
    assert (await node.post("/has", content=ids, headers=_signed("POST", "/has", ids))).content == (
        b"\0"
    )


async def test_another_nodes_key_cannot_delete_here(node: httpx.AsyncClient) -> None:
    """Finding 3: one secret shared by every node let a compromised node delete every block.
    Node B holds only its own key; with it, it can sign for any address, and node A still
    refuses."""
    path = f"/blocks/{BID}"
    assert (await node.put(path, content=BODY, headers=_signed("PUT", path))).status_code == 204
    b_key = auth.node_key(SECRET, OTHER)
    for address in (ADDRESS, OTHER):
        headers = _signed("DELETE", path, key=b_key, address=address)
        assert (await node.delete(path, headers=headers)).status_code == 403
    assert (await node.get(path, headers=_signed("GET", path))).status_code == 200


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


async def test_a_block_put_with_other_content_is_refused(node: httpx.AsyncClient) -> None:
    """A block PUT's signature binds the id; the node binds the content to the id."""
    path = f"/blocks/{BID}"
    resp = await node.put(path, content=b"other bytes", headers=_signed("PUT", path))
    assert resp.status_code == 422


async def test_digest_route_is_gone(node: httpx.AsyncClient) -> None:
    path = "/digest?start=&end=ff"
    assert (await node.get(path, headers=_signed("GET", path))).status_code == 404


def test_node_keys_differ_per_address_and_hide_the_secret() -> None:
    a, b = auth.node_key(SECRET, ADDRESS), auth.node_key(SECRET, OTHER)
    assert a != b and SECRET.encode() not in a
    assert hashlib.sha256(SECRET.encode()).digest() not in (a, b)
    assert auth.address_of("https://Node-A:9100/") == "node-a:9100"
    assert auth.address_of("http://10.0.0.1") == "10.0.0.1:80"


def test_a_request_signed_before_the_node_started_is_refused_after_a_restart() -> None:
    """Seen nonces live in memory: a DELETE captured shortly before a node restarted is
    still fresh by its timestamp, but the restarted node refuses anything signed before it
    started, so the lost nonce cannot be replayed."""
    key, path = auth.node_key(SECRET, ADDRESS), f"/blocks/{BID}"
    captured = auth.sign(key, "DELETE", ADDRESS, path, auth.EMPTY_BODY, now=time.time() - 5)
    restarted = auth.Verifier(key, ADDRESS)
    assert not restarted.verify("DELETE", path, auth.EMPTY_BODY, captured)
    fresh = auth.sign(key, "DELETE", ADDRESS, path, auth.EMPTY_BODY)
    assert restarted.verify("DELETE", path, auth.EMPTY_BODY, fresh)
