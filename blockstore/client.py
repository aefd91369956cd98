"""HttpBlockStore: the BlockStore interface over HTTP to one storage node.

Connections are pooled and kept alive (one httpx client per node). Network failures and
5xx answers become BlockStoreUnavailable, so the gateway can fail over to another replica.

Every request is signed with the node's own key, derived from the cluster secret and the
node's address, with a fresh nonce (blockstore.auth). With the cluster's TLS settings
(``LinkTls``: the CA bundle, and the client certificate nodes ask for) a node is reached only
over HTTPS and only if its certificate comes from the cluster CA; a node registered with a
plain ``http://`` URL is refused, so a rogue node cannot downgrade the link. The CRC32C of
each answer stays, for integrity; TLS is what makes the answer the node's own.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass
from functools import cache

import crc32c
import httpx

from blockstore import auth
from blockstore.address import ID_SIZE, THREAD_THRESHOLD, block_id_async
from blockstore.api import (
    BlockCorrupt,
    BlockNotFound,
    BlockStoreFull,
    BlockStoreUnavailable,
    StoreStats,
)
from blockstore.server import CRC_HEADER


@dataclass(frozen=True)
class LinkTls:
    """TLS on the internal links: the cluster CA, and this process's client certificate."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def from_env(cls) -> LinkTls | None:
        """CAIRN_LINK_CA, CAIRN_LINK_CERT, CAIRN_LINK_KEY: how gateways and meta services are
        told (by `cairn cluster up`, compose, an operator) without new flags on each role."""
        ca = os.environ.get("CAIRN_LINK_CA")
        if not ca:
            return None
        return cls(ca, os.environ.get("CAIRN_LINK_CERT"), os.environ.get("CAIRN_LINK_KEY"))

    def context(self) -> ssl.SSLContext:
        return _client_context(self)


@cache
def _client_context(tls: LinkTls) -> ssl.SSLContext:
    """One context per process and settings: loading the CA and key once, not per node."""
    ctx = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    return ctx


class HttpBlockStore:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        tls: LinkTls | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 2.0,
        max_connections: int = 64,
        verify_reads: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self._address = auth.address_of(self.url)
        self._key = auth.node_key(secret, self._address)
        self._verify_reads = verify_reads
        tls = tls if tls is not None else LinkTls.from_env()
        # With the cluster's TLS settings, a plain-HTTP node is not a node of this cluster.
        self._refused = tls is not None and not self.url.startswith("https://")
        self._client = httpx.AsyncClient(
            base_url=self.url,
            verify=tls.context() if tls is not None else True,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    def _headers(self, method: str, path: str, path_qs: str, body: bytes | None) -> dict[str, str]:
        digest = auth.body_digest(method, path, body)
        return {auth.HEADER: auth.sign(self._key, method, self._address, path_qs, digest)}

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        qs = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        path_qs = path + ("?" + qs if qs else "")
        if self._refused:
            raise BlockStoreUnavailable(f"{self.url}: not HTTPS, and the cluster uses TLS")
        headers = self._headers(method, path, path_qs, content)
        try:
            resp = await self._client.request(method, path_qs, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise BlockStoreUnavailable(f"{self.url}: {exc!r}") from exc
        if resp.status_code >= 500 and resp.status_code != 507:
            raise BlockStoreUnavailable(f"{self.url}: HTTP {resp.status_code}")
        if resp.status_code == 403:
            raise BlockStoreUnavailable(f"{self.url}: refused the cluster secret's signature")
        return resp

    async def put(
        self, block_id: bytes, data: bytes | bytearray | memoryview, crc: int | None = None
    ) -> None:
        # The node re-hashes what it receives, so the caller's CRC is not needed here.
        # httpx treats any non-bytes body as an iterable of chunks (a bytearray would be
        # iterated int by int): hand it bytes.
        body = data if isinstance(data, bytes) else bytes(data)
        resp = await self._request("PUT", f"/blocks/{block_id.hex()}", content=body)
        if resp.status_code == 422:
            raise BlockCorrupt(block_id.hex())
        if resp.status_code == 507:
            raise BlockStoreFull(self.url)
        if resp.status_code != 204:
            raise BlockStoreUnavailable(f"{self.url}: HTTP {resp.status_code} on put")

    async def get(self, block_id: bytes, start: int = 0, end: int | None = None) -> bytes:
        params: dict[str, str] = {}
        if start:
            params["start"] = str(start)
        if end is not None:
            params["end"] = str(end)
        resp = await self._request("GET", f"/blocks/{block_id.hex()}", params)
        if resp.status_code == 404:
            raise BlockNotFound(block_id.hex())
        if resp.status_code == 409:
            raise BlockCorrupt(block_id.hex())
        if resp.status_code != 200:
            raise BlockStoreUnavailable(f"{self.url}: HTTP {resp.status_code} on get")
        data = resp.content
        if not self._verify_reads:
            return data
        # The node verified the block before sending it; what arrived is checked against the
        # CRC32C the node sent with it (damage on the way), whole blocks and ranges alike. A
        # node that sends no CRC (an older one) has whole blocks re-hashed here instead.
        sent = resp.headers.get(CRC_HEADER)
        if sent is not None:
            got = (
                crc32c.crc32c(data)
                if len(data) < THREAD_THRESHOLD
                else await asyncio.to_thread(crc32c.crc32c, data)
            )
            if str(got) != sent:
                raise BlockCorrupt(block_id.hex())
        elif not params and await block_id_async(data) != block_id:
            raise BlockCorrupt(block_id.hex())
        return data

    async def has(self, block_ids: list[bytes]) -> list[bool]:
        resp = await self._request("POST", "/has", content=b"".join(block_ids))
        if resp.status_code != 200 or len(resp.content) != len(block_ids):
            raise BlockStoreUnavailable(f"{self.url}: HTTP {resp.status_code} on has")
        return [b == 1 for b in resp.content]

    async def delete(self, block_id: bytes) -> None:
        await self._request("DELETE", f"/blocks/{block_id.hex()}")

    async def list_ids(self, start: bytes, end: bytes, limit: int = 1000) -> list[bytes]:
        resp = await self._request(
            "GET", "/list", {"start": start.hex(), "end": end.hex(), "limit": str(limit)}
        )
        body = resp.content
        # Anything but a 200 of whole ids is not a node's answer (say a 404 page from
        # whatever now listens at a node's old address): taken as ids, the "Not Found"
        # body made all_ids ask again from after it, for ever (the fault campaign).
        if resp.status_code != 200 or len(body) % ID_SIZE:
            raise BlockStoreUnavailable(f"{self.url}: HTTP {resp.status_code} on list")
        return [body[i : i + ID_SIZE] for i in range(0, len(body), ID_SIZE)]

    async def stats(self) -> StoreStats:
        d = await self.info()
        return StoreStats(capacity=d["capacity"], used=d["used"], blocks=d["blocks"])

    async def info(self) -> dict[str, int | str]:
        resp = await self._request("GET", "/stats")
        if resp.status_code != 200:
            raise BlockStoreUnavailable(f"{self.url}: HTTP {resp.status_code} on stats")
        return resp.json()  # type: ignore[no-any-return]

    async def health(self, timeout: float = 1.0) -> bool:
        """Cheap liveness probe with its own short timeout: a dead node is found in seconds."""
        if self._refused:
            return False
        try:
            resp = await self._client.get("/health", timeout=timeout)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    async def close(self) -> None:
        await self._client.aclose()
