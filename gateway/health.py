"""Liveness and readiness for load balancers and orchestrators, without credentials.

``GET /_cairn/health/live`` answers 200 while the process serves; ``GET
/_cairn/health/ready`` answers 200 when the process can do its work (for a gateway: the
metadata store answers and a write quorum of storage nodes is reachable), 503 otherwise,
each with a small JSON body saying why. The path can never be an S3 request: a bucket
name cannot start with ``_``. These are the only requests a gateway answers before
authentication, besides CORS preflights.

A readiness probe costs a metadata read, so its result is kept for ``ttl`` seconds and
concurrent probes share one check: a load balancer polling every gateway cannot hammer
the metadata store. What to check is handed in by the composition root (cairn/), since
the gateway knows storage only through its object service.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

PREFIX = "/_cairn/health/"
LIVE = PREFIX + "live"
READY = PREFIX + "ready"

Probe = Callable[[], Awaitable[dict[str, Any]]]
"""Checks what a process needs and returns its findings; ``ok`` says whether it is ready."""


class Readiness:
    """A probe's last result, kept for ``ttl`` seconds; one check at a time."""

    def __init__(self, probe: Probe, ttl: float = 1.0) -> None:
        self.probe = probe
        self.ttl = ttl
        self._result: dict[str, Any] | None = None
        self._until = 0.0
        self._running: asyncio.Task[dict[str, Any]] | None = None

    async def check(self) -> dict[str, Any]:
        if self._result is not None and time.monotonic() < self._until:
            return self._result
        if self._running is None:
            self._running = asyncio.ensure_future(self._probe())
        try:
            return await asyncio.shield(self._running)
        finally:
            if self._running is not None and self._running.done():
                self._running = None

    async def _probe(self) -> dict[str, Any]:
        try:
            result = await self.probe()
        except Exception as exc:  # noqa: BLE001 - a failing probe means not ready
            result = {"ok": False, "error": type(exc).__name__}
        self._result, self._until = result, time.monotonic() + self.ttl
        return result


def is_health_path(path: str) -> bool:
    return path.startswith(PREFIX)


async def answer(path: str, method: str, readiness: Readiness | None) -> Response:
    """The answer to a request under PREFIX (GET or HEAD; anything else is 405)."""
    if method not in ("GET", "HEAD"):
        return _json(405, {"ok": False, "error": "MethodNotAllowed"})
    if path == LIVE:
        return _json(200, {"ok": True, "status": "live"})
    if path == READY:
        result = await readiness.check() if readiness is not None else {"ok": True}
        return _json(200 if result.get("ok") else 503, result)
    return _json(404, {"ok": False, "error": "NoSuchHealthCheck", "checks": [LIVE, READY]})


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(
        json.dumps(body, sort_keys=True),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )
