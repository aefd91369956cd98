"""HttpBlockStore: the BlockStore interface over HTTP to one storage node.

Connections are pooled and kept alive (one httpx client per node). Network failures and
5xx answers become BlockStoreUnavailable, so the gateway can fail over to another replica.
"""

from __future__ import annotations

import asyncio

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


class HttpBlockStore:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 2.0,
        max_connections: int = 64,
        verify_reads: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self._secret = secret
        self._verify_reads = verify_reads
        self._client = httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    def _headers(self, method: str, path_qs: str) -> dict[str, str]:
        return {auth.HEADER: auth.sign(self._secret, method, path_qs)}

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        qs = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        path_qs = path + ("?" + qs if qs else "")
        try:
            resp = await self._client.request(
                method, path_qs, content=content, headers=self._headers(method, path_qs)
            )
        except httpx.HTTPError as exc:
            raise BlockStoreUnavailable(f"{self.url}: {exc!r}") from exc
        if resp.status_code >= 500 and resp.status_code != 507:
            raise BlockStoreUnavailable(f"{self.url}: HTTP {resp.status_code}")
        if resp.status_code == 403:
            raise BlockStoreUnavailable(f"{self.url}: refused the cluster secret")
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
        return [b == 1 for b in resp.content]

    async def delete(self, block_id: bytes) -> None:
        await self._request("DELETE", f"/blocks/{block_id.hex()}")

    async def list_ids(self, start: bytes, end: bytes, limit: int = 1000) -> list[bytes]:
        resp = await self._request(
            "GET", "/list", {"start": start.hex(), "end": end.hex(), "limit": str(limit)}
        )
        body = resp.content
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
        try:
            resp = await self._client.get("/health", timeout=timeout)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    async def close(self) -> None:
        await self._client.aclose()
