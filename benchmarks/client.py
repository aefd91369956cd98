"""A raw HTTP/1.1 keep-alive S3 client on asyncio + httptools, signed with SigV4.

A general-purpose SDK spends 100+ µs of CPU per request; on a 2-core machine shared with the
server that caps what can be measured. This client writes the request head itself, parses the
response with httptools (the C parser uvicorn uses) and lets the caller discard, keep or
verify the body as it arrives, so a small request costs the client tens of microseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote

import httptools

from benchmarks.sigv4 import Signer, canonical_query

WRITE_HIGH_WATER = 4 << 20


@dataclass
class Response:
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    length: int  # bytes of body received (also when not kept)


class _Conn(asyncio.Protocol):
    """One TCP connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._done: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._paused = False
        self._status = 0
        self._headers: dict[bytes, bytes] = {}
        self._body: bytearray | None = None
        self._sink: Callable[[bytes], None] | None = None
        self._length = 0
        self.keep_alive = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is not a subclass
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("server closed the connection"))
        if self._drain and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain and not self._drain.done():
            self._drain.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self.closed = True
        if self._done and not self._done.done():
            self._done.set_exception(exc)
        if self.transport:
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._headers = {}
        self._length = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._length += len(body)
        if self._body is not None:
            self._body += body
        elif self._sink is not None:
            self._sink(body)

    def on_message_complete(self) -> None:
        if self._done and not self._done.done():
            self._done.set_result(None)

    async def roundtrip(
        self,
        head: bytes,
        body: bytes | None,
        chunks: Iterable[bytes] | None,
        keep_body: bool,
        sink: Callable[[bytes], None] | None,
    ) -> Response:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._body = bytearray() if keep_body else None
        self._sink = sink
        self.transport.write(head + body if body else head)
        if chunks is not None:
            for chunk in chunks:
                if self.closed:
                    break
                self.transport.write(chunk)
                if self._paused:
                    self._drain = loop.create_future()
                    await self._drain
        await self._done
        body_out = bytes(self._body) if self._body is not None else b""
        self._body = None
        self._sink = None
        return Response(self._status, self._headers, body_out, self._length)


class S3Session:
    """A keep-alive connection to one endpoint that reconnects when the server closes it."""

    def __init__(self, host: str, port: int, signer: Signer | None) -> None:
        self.host = host
        self.port = port
        self.hostport = f"{host}:{port}"
        self.signer = signer
        self._conn: _Conn | None = None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, self._conn = await loop.create_connection(_Conn, self.host, self.port)

    def close(self) -> None:
        if self._conn and self._conn.transport:
            self._conn.transport.close()
        self._conn = None

    def _head(self, method: str, path: str, query: str, length: int | None) -> bytes:
        lines = [
            f"{method} {path}{'?' + query if query else ''} HTTP/1.1",
            f"Host: {self.hostport}",
        ]
        if self.signer is not None:
            lines.extend(
                f"{k}: {v}" for k, v in self.signer.sign(method, path, query, self.hostport).items()
            )
        if length is not None:
            lines.append(f"Content-Length: {length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: bytes | None = None,
        chunks: Iterable[bytes] | None = None,
        length: int | None = None,
        keep_body: bool = False,
        sink: Callable[[bytes], None] | None = None,
    ) -> Response:
        """One request. `path` is unencoded ("/bucket/key"); a body is bytes or chunks+length."""
        if self._conn is None or self._conn.closed:
            await self.connect()
        assert self._conn is not None
        if body is not None:
            length = len(body)
        elif chunks is None and method in ("PUT", "POST"):
            length = 0
        head = self._head(method, quote(path, safe="/-_.~"), canonical_query(query), length)
        try:
            resp = await self._conn.roundtrip(head, body, chunks, keep_body, sink)
        except BaseException:
            self.close()
            raise
        if not self._conn.keep_alive:
            self.close()
        return resp
