"""The version history of a versioned bucket, kept apart from the current-version index.

``O<bucket>\\0<key>`` (meta.store) holds the current version of each key, and is all that
ListObjects reads, so a bucket with deep history lists as fast as one without. Every
version and delete marker of a versioned bucket is also kept here, under

    V<bucket>\\0<enc(key)>\\0<order>     order = (2**64-1 - microseconds) + 8 random bytes

so a key's versions sit together, newest first. A version id is the hex of
(microseconds, the same 8 random bytes): 32 URL-safe characters that name the history
key directly, time-ordered and unguessable. Null versions (written while versioning is
suspended) have an order like any other but the id "null". A head written before its
bucket was ever versioned lives only in the current-version index (its ``order`` is
empty); the first write after versioning was enabled moves it into the history.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from meta import keys
from meta.api import KV
from meta.errors import InvalidVersionId
from meta.records import ObjectSummary, VersionSummary, unpack_record

ORDER_LEN = 16
_MAX = (1 << 64) - 1
_ID = re.compile(r"^[0-9a-f]{32}$")
ENABLED, SUSPENDED = "Enabled", "Suspended"


def now_us() -> int:
    return time.time_ns() // 1000


def new_version(t_us: int, null: bool) -> tuple[str, bytes]:
    """(version id, order) of a version written at t_us."""
    rand = os.urandom(8)
    order = keys.u64(_MAX - t_us) + rand
    return ("null" if null else (keys.u64(t_us) + rand).hex()), order


def order_of(version_id: str) -> bytes:
    """The history position a version id names; InvalidVersionId if it names none."""
    if not _ID.match(version_id):
        raise InvalidVersionId(version_id)
    raw = bytes.fromhex(version_id)
    return keys.u64(_MAX - int.from_bytes(raw[:8], "big")) + raw[8:]


def time_of(order: bytes) -> int:
    return _MAX - int.from_bytes(order[:8], "big")


class History:
    """One bucket's history index."""

    def __init__(self, kv: KV, bucket: str) -> None:
        self.kv = kv
        # Room for the separator and the order after the (possibly hashed) key.
        self.codec = keys.KeyCodec(keys.version_prefix(bucket), kv.max_key_size - ORDER_LEN - 1)

    def key(self, key: str, order: bytes) -> bytes:
        return self.codec.encode(key.encode()) + b"\0" + order

    def _range(self, key: str) -> tuple[bytes, bytes]:
        base = self.codec.encode(key.encode()) + b"\0"
        return base, keys.prefix_end(base)

    async def newest(self, key: str, limit: int) -> list[tuple[bytes, bytes]]:
        """The key's newest ``limit`` entries (history key, record), newest first."""
        start, end = self._range(key)
        return await self.kv.scan(start, end, limit=limit)

    async def find(self, key: str, version_id: str) -> tuple[bytes, bytes] | None:
        """(history key, record) of a version by id; None when there is none."""
        if version_id != "null":
            hkey = self.key(key, order_of(version_id))
            raw = await self.kv.get(hkey)
            return (hkey, raw) if raw is not None else None
        start, end = self._range(key)
        while True:  # the null version may be anywhere in the key's history
            rows = await self.kv.scan(start, end, limit=256)
            for hkey, raw in rows:
                if unpack_record(raw).get("vn"):
                    return hkey, raw
            if len(rows) < 256:
                return None
            start = rows[-1][0] + b"\0"

    async def any(self) -> bool:
        """Whether the bucket has any version or delete marker left (DeleteBucket)."""
        end = self.codec.end
        return bool(await self.kv.scan(self.codec.prefix, end, limit=1))


# ------------------------------------------------------------------ listing


@dataclass
class VersionEntry:
    key: str
    head: VersionSummary | None = None  # None for a common prefix


@dataclass
class VersionPage:
    entries: list[VersionEntry]
    truncated: bool
    next_key: str | None
    next_version: str | None


class _Stream:
    """Rows of one index in key order, read in batches, that can jump ahead to a key.
    Yields (key bytes, order, record); heads of the current-version index that are also
    in the history are skipped (only heads written before versioning are listed from it)."""

    def __init__(self, kv: KV, codec: keys.KeyCodec, history: bool) -> None:
        self.kv, self.codec, self.history = kv, codec, history
        self.pos = codec.prefix
        self.end = codec.end
        self.rows: list[tuple[bytes, bytes, bytes]] = []
        self.done = False

    def seek(self, key: bytes) -> None:
        pos = self.codec.seek(key)
        if pos > self.pos:
            self.pos, self.rows, self.done = pos, [], False
        self.rows = [r for r in self.rows if r[0] >= key]

    async def peek(self) -> tuple[bytes, bytes, bytes] | None:
        while not self.rows and not self.done:
            batch = await self.kv.scan(self.pos, self.end, limit=256)
            self.done = len(batch) < 256
            if batch:
                self.pos = batch[-1][0] + b"\0"
            self.rows = [r for r in map(self._parse, batch) if r is not None]
        return self.rows[0] if self.rows else None

    def pop(self) -> None:
        self.rows.pop(0)

    def _parse(self, row: tuple[bytes, bytes]) -> tuple[bytes, bytes, bytes] | None:
        bkey, raw = row
        plen = len(self.codec.prefix)
        if not self.history:
            if b"vo" in raw and "vo" in unpack_record(raw):
                return None  # also in the history: listed from there
            key = bkey[plen:]
            if self.codec.is_grouped(bkey):
                key = ObjectSummary.from_bytes(raw).key.encode()
            return key, b"", raw
        key, order = bkey[plen : -ORDER_LEN - 1], bkey[-ORDER_LEN:]
        if len(key) > self.codec.room:
            key = ObjectSummary.from_bytes(raw).key.encode()
        return key, order, raw


async def list_versions(
    kv: KV,
    bucket: str,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_marker: str,
    limit: int,
) -> VersionPage:
    """One page of ListObjectVersions: versions and delete markers in key order, newest
    first within a key, and common prefixes; it starts after (key_marker, version_marker)."""
    history = History(kv, bucket)
    streams = [
        _Stream(kv, history.codec, True),
        _Stream(kv, keys.KeyCodec(keys.object_prefix(bucket), kv.max_key_size), False),
    ]
    bprefix, bdelim = prefix.encode(), delimiter.encode()
    bmarker = key_marker.encode() if key_marker else None
    after_order = await _marker_order(history, key_marker, version_marker)
    start = max(bprefix, bmarker) if bmarker is not None else bprefix
    for s in streams:
        s.seek(start)
    entries: list[VersionEntry] = []
    truncated = False
    last_key = bmarker if after_order is not None else None
    while True:
        row = await _next(streams)
        if row is None:
            break
        key, order, raw = row
        if not key.startswith(bprefix):
            if key > bprefix:
                break
            _pop(streams, row)
            continue
        if bmarker is not None and (
            key < bmarker or (key == bmarker and (after_order is None or order <= after_order))
        ):
            _pop(streams, row)
            continue
        if bdelim:
            i = key.find(bdelim, len(bprefix))
            if i >= 0:
                cp = key[: i + len(bdelim)]
                if bmarker is None or cp > bmarker:
                    if len(entries) >= limit:
                        truncated = True
                        break
                    entries.append(VersionEntry(cp.decode("utf-8", "surrogateescape")))
                for s in streams:
                    s.seek(keys.prefix_end(cp))
                continue
        if len(entries) >= limit:
            truncated = True
            break
        summary = VersionSummary.from_bytes(raw, is_latest=key != last_key)
        entries.append(VersionEntry(summary.key, summary))
        last_key = key
        _pop(streams, row)
    if not truncated or not entries:  # max-keys=0 lists nothing and is not truncated
        return VersionPage(entries, False, None, None)
    tail = entries[-1]
    return VersionPage(
        entries, True, tail.key, tail.head.version_id if tail.head is not None else None
    )


async def _marker_order(history: History, key_marker: str, version_marker: str) -> bytes | None:
    """The order after which a page starts within key_marker's versions; None: after all
    of them (no version marker)."""
    if not key_marker or not version_marker:
        return None
    if version_marker == "null":
        found = await history.find(key_marker, "null")
        # A null head only in the current-version index is the key's one version.
        return found[0][-ORDER_LEN:] if found is not None else b"\xff" * ORDER_LEN
    return order_of(version_marker)


async def _next(streams: list[_Stream]) -> tuple[bytes, bytes, bytes] | None:
    best: tuple[bytes, bytes, bytes] | None = None
    for s in streams:
        row = await s.peek()
        if row is not None and (best is None or (row[0], row[1]) < (best[0], best[1])):
            best = row
    return best


def _pop(streams: list[_Stream], row: tuple[bytes, bytes, bytes]) -> None:
    for s in streams:
        if s.rows and s.rows[0] is row:
            s.pop()
            return
