"""Spreading connections over the pre-forked workers: the least busy worker accepts first.

All workers accept on one listening socket. Left to the kernel and the event loop, the
first worker to wake takes every connection that is waiting (uvloop accepts until the
queue is empty): measured here, 4 connections opened at once landed 4-0 on two workers
in 4 of 6 tries, and aws s3 cp's 10 connections 9-1 or 10-0. One worker then parses and
hashes every stream while the other core idles. (libuv's UV_TCP_SINGLE_ACCEPT, its answer
for this, gave 3-1 and 10-0 here.)

So each worker accepts in its own loop and counts its open connections in a small table
shared by all workers (an anonymous shared mapping made before the fork; each worker
writes only its own slot). When a connection is waiting, every worker is woken; one that
holds more connections than the least busy one waits a little before it accepts, so the
idle worker takes the connection. If that worker is stuck, the busy one still accepts
after the wait. The same idea as nginx's
accept_mutex_delay, without the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import socket
from typing import Any

import uvicorn

log = logging.getLogger("cairn.gateway")

# How long a busier worker waits per connection it holds above the least busy one: long
# enough for the idle worker, woken by the same connection, to be scheduled on a busy
# machine; short next to a connection's life.
ACCEPT_DELAY = 0.005
MAX_DELAY = 0.05


class ConnectionCounts:
    """Open connections per worker, in memory shared across fork()."""

    def __init__(self, workers: int) -> None:
        self._mem = mmap.mmap(-1, 4 * max(1, workers))  # MAP_SHARED | MAP_ANONYMOUS
        self._counts = memoryview(self._mem).cast("i")

    def reset(self, index: int) -> None:
        """A worker starting (or restarted after a crash) holds no connections."""
        self._counts[index] = 0

    def add(self, index: int, delta: int) -> None:
        self._counts[index] += delta

    def excess(self, index: int) -> int:
        """How many more connections this worker holds than the least busy one."""
        return self._counts[index] - min(self._counts)


class BalancedServer(uvicorn.Server):
    """uvicorn's server with its own accept loop on a shared socket (see the module doc)."""

    def __init__(
        self, config: uvicorn.Config, sock: socket.socket, index: int, counts: ConnectionCounts
    ) -> None:
        super().__init__(config)
        self._sock = sock
        self._index = index
        self._counts = counts
        self._accepting: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # No sockets for uvicorn itself: it runs the lifespan and keeps the connection set
        # that a graceful shutdown waits on; the accept loop below feeds it.
        await super().startup(sockets=[])
        self._counts.reset(self._index)  # what a crashed predecessor held is gone
        if not self.should_exit:
            self._sock.setblocking(False)
            self._accepting = asyncio.create_task(self._accept_loop())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        await super().shutdown(sockets=sockets)

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # Decide when a connection is waiting, not before: every worker is woken by
            # it, and the busier ones hold back while the least busy one takes it.
            await self._readable(loop)
            excess = self._counts.excess(self._index)
            if excess > 0:
                await asyncio.sleep(min(MAX_DELAY, ACCEPT_DELAY * excess))
            try:
                conn, _ = self._sock.accept()
            except BlockingIOError:
                continue  # another worker took it
            except OSError as exc:  # EMFILE and the like: back off, keep serving
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            # Counted at once, so that the next connection of a burst sees this worker
            # busier; uncounted when the connection ends.
            self._counts.add(self._index, 1)
            # A TLS handshake must not hold up the next accept.
            loop.create_task(self._start(loop, conn))

    async def _readable(self, loop: asyncio.AbstractEventLoop) -> None:
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self._sock.fileno(), wake)
        try:
            await ready
        finally:
            loop.remove_reader(self._sock.fileno())

    async def _start(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        counted = [True]

        def uncount() -> None:
            if counted[0]:
                counted[0] = False
                self._counts.add(self._index, -1)

        def protocol() -> asyncio.Protocol:
            config = self.config
            proto: Any = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            lost = proto.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                uncount()
                lost(exc)

            proto.connection_lost = connection_lost
            return proto  # type: ignore[no-any-return]

        try:
            await loop.connect_accepted_socket(protocol, conn, ssl=self.config.ssl)
        except Exception as exc:  # noqa: BLE001 - one bad handshake must not end the loop
            # The transport had the descriptor and closed it (uvloop): closing the socket
            # object as well could close a descriptor someone has opened since.
            log.debug("connection not set up: %s", exc)
            uncount()
            conn.detach()
