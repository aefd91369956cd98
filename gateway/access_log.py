"""The access log: one JSON line per S3 request, failures included.

Each line holds the time, request id, remote address, access key and user, operation,
bucket, key, HTTP status, S3 error code, bytes in and out, and the time to the response
headers in milliseconds. It holds no secret: not the Authorization header, not a
presigned URL's query (its signature), not an SSE-C key; nothing from the request's
headers is copied but what is listed here. Health probes are not logged.

Cheap by design: a request appends a dict to a list; a background task of the worker
encodes the lines and writes them in one ``os.write`` per flush (every FLUSH_SECONDS, or
sooner when BUFFER_LINES are waiting). Each worker of ``cairn serve`` writes its own
lines to the same destination, opened in append mode, so whole lines never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

FLUSH_SECONDS = 0.25
BUFFER_LINES = 512

# Requests that change who may do what: each one that succeeds also goes into the audit
# trail (meta.audit), beside its access-log line.
AUDITED = frozenset(
    {
        "PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "PutObjectAcl",
        "PutBucketOwnershipControls", "DeleteBucketOwnershipControls",
        "PutPublicAccessBlock", "DeletePublicAccessBlock",
    }
)  # fmt: skip

OFF = "off"
STDERR = "-"


@dataclass
class AccessLog:
    """Lines waiting for the next flush, and the file descriptor they go to."""

    fd: int
    pending: list[dict[str, Any]] = field(default_factory=list)
    _wake: asyncio.Event | None = None

    @classmethod
    def open(cls, destination: str) -> AccessLog | None:
        """``off``: no log; ``-`` (the default): stderr; otherwise a file, appended to."""
        if destination == OFF:
            return None
        if destination == STDERR:
            return cls(sys.stderr.fileno())
        return cls(os.open(destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))

    def add(self, line: dict[str, Any]) -> None:
        self.pending.append(line)
        if len(self.pending) >= BUFFER_LINES and self._wake is not None:
            self._wake.set()

    def flush(self) -> None:
        if not self.pending:
            return
        lines, self.pending = self.pending, []
        data = "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines).encode()
        while data:  # a pipe may take a large write in parts
            data = data[os.write(self.fd, data) :]

    async def run(self) -> None:
        """Flush every FLUSH_SECONDS (or when the buffer fills) for the app's lifetime,
        and once more when it stops."""
        self._wake = asyncio.Event()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
                self._wake.clear()
                self.flush()
        finally:
            self.flush()


def line(
    *,
    request_id: str,
    remote: str | None,
    access_key: str,
    user: str,
    operation: str,
    bucket: str | None,
    key: str | None,
    status: int,
    error: str,
    bytes_in: int,
    bytes_out: int,
    seconds: float,
) -> dict[str, Any]:
    """One request's record, in the order a reader scans it."""
    return {
        "time": _now(),
        "request_id": request_id,
        "remote": remote or "",
        "access_key": access_key,
        "user": user,
        "operation": operation,
        "bucket": bucket or "",
        "key": key or "",
        "status": status,
        "error": error,
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "duration_ms": round(seconds * 1000, 3),
    }


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
