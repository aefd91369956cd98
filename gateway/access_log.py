"""The access log: one JSON line per S3 request, failures included.

Each line holds the time, request id, remote address, access key and user, operation,
bucket, key, HTTP status, S3 error code, bytes in and out, and the time to the response
headers in milliseconds. It holds no secret: not the Authorization header, not a
presigned URL's query (its signature), not an SSE-C key; nothing from the request's
headers is copied but what is listed here. Health probes are not logged.

Cheap by design: a request appends a tuple to a list; a background task of the worker
formats the lines (one f-string each; the strings a client chose are JSON-escaped, ASCII
only, each distinct one once per flush) and writes them in writes of whole lines (every
FLUSH_SECONDS, or sooner when BUFFER_LINES are waiting). Each worker of ``cairn serve``
writes its own lines to the same destination, opened in append mode, so whole lines never
interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
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
    pending: list[Entry] = field(default_factory=list)
    _wake: asyncio.Event | None = None

    @classmethod
    def open(cls, destination: str) -> AccessLog | None:
        """``off``: no log; ``-`` (the default): stderr; otherwise a file, appended to."""
        if destination == OFF:
            return None
        if destination == STDERR:
            return cls(sys.stderr.fileno())
        return cls(os.open(destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))

    def add(self, entry: Entry) -> None:
        self.pending.append(entry)
        if len(self.pending) >= BUFFER_LINES and self._wake is not None:
            self._wake.set()

    def flush(self) -> None:
        if not self.pending:
            return
        entries, self.pending = self.pending, []
        escaped = _Escaped()  # remote, key id, user and bucket repeat from line to line
        for data in _whole_lines(format_line(e, escaped) for e in entries):
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


# A write of at most PIPE_BUF bytes to a pipe (stderr under docker or systemd) is never
# interleaved with another process's: each worker writes whole lines in writes this big.
PIPE_BUF = 4096


def _whole_lines(lines: Iterable[str]) -> Iterator[bytes]:
    """The lines, encoded, joined into chunks of at most PIPE_BUF bytes (a longer line
    goes alone). The lines are ASCII (format_line escapes), so a line's length in
    characters is its length in bytes and each chunk is encoded once, not each line."""
    chunk: list[str] = []
    size = 0
    for text in lines:
        if chunk and size + len(text) > PIPE_BUF:
            yield "".join(chunk).encode()
            chunk, size = [], 0
        chunk.append(text)
        size += len(text)
    if chunk:
        yield "".join(chunk).encode()


Entry = tuple[float, str, str, str, str, str, str, str, int, str, int, int, float]
"""time, request id, remote, access key, user, operation, bucket, key, status, error
code, bytes in, bytes out, seconds: one request, as the request path records it."""


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
) -> Entry:
    """One request's entry, formatted later by format_line."""
    return (
        time.time(), request_id, remote or "", access_key, user, operation, bucket or "",
        key or "", status, error, bytes_in, bytes_out, seconds,
    )  # fmt: skip


class _Escaped(dict[str, str]):
    """JSON-escaped strings, each escaped once per flush: a flush's lines mostly share
    their remote address, access key, user and bucket."""

    def __missing__(self, text: str) -> str:
        value = self[text] = _esc(text)
        return value


def format_line(e: Entry, escaped: dict[str, str] | None = None) -> str:
    """The JSON line of an entry. Request id, operation and error code are the gateway's
    own (hex and letters); everything a client chose is escaped, so the line is ASCII."""
    esc = _Escaped() if escaped is None else escaped
    t, rid, remote, access, user, op, bucket, key, status, error, n_in, n_out, secs = e
    return (
        f'{{"time":"{_stamp(t)}","request_id":"{rid}","remote":{esc[remote]},'
        f'"access_key":{esc[access]},"user":{esc[user]},"operation":"{op}",'
        f'"bucket":{esc[bucket]},"key":{_esc(key)},"status":{status},"error":"{error}",'
        f'"bytes_in":{n_in},"bytes_out":{n_out},"duration_ms":{secs * 1000:.3f}}}\n'
    )


_esc = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_second: list[Any] = [-1, ""]  # the last whole second formatted, and its text
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))  # formatted once, not per line


def _stamp(t: float) -> str:
    """ISO 8601 UTC with milliseconds; the date and time part formatted once a second."""
    whole = int(t)
    if whole != _second[0]:
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))]
    return _second[1] + _MILLIS[int((t - whole) * 1000)]
