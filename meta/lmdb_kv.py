"""The embedded metadata backend: the KV interface on one LMDB environment.

Reads run on the event loop (an LMDB read is a few microseconds against the page
cache); writes go through the group-commit writer so concurrent commits share fsyncs.

Leases are records too, so that every process sharing the environment (a local cluster's
nodes, gateways and meta services) sees the same ones:

    \\0lease\\0<id:8>          expiry (ms since the epoch, 8 bytes)
    \\0leased\\0<id:8><key>    a key put under the lease
    \\0leaseof\\0<key>         the lease a key was last put under (a later lease wins)

A full map (``lmdb.MapFullError``) fails the one transaction that hit it, which changes
nothing (each commit runs in its own nested transaction), and is raised as
``MetaStoreFull``: retryable, answered 503 SlowDown, with one log line naming the option
that raises the map size. ``free_bytes`` feeds the free-space metric.

Every write transaction first ends the leases that have expired, deleting their keys, so
an expired lease's keys are gone before any later commit's compares run; a read may still
see them until the next commit (in a cluster, nodes' heartbeats commit every 2 s).
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import lmdb

from meta.api import LeaseExpired, MetaUnavailable, Txn, TxnConflict
from meta.lmdb_writer import GroupCommitWriter
from meta.records import now_ms

T = TypeVar("T")

log = logging.getLogger("cairn.meta")

LEASE = b"\x00lease\x00"
LEASED = b"\x00leased\x00"
LEASE_OF = b"\x00leaseof\x00"

DEFAULT_MAP_SIZE = 64 << 30  # sparse: only what is written takes disk
FULL_LOG_INTERVAL = 60.0  # seconds between two "store full" log lines of one process


class MetaStoreFull(MetaUnavailable):
    """The LMDB map is full: the transaction changed nothing and may be retried once the
    map is larger (--meta-map-size) or space is freed."""


class LmdbKV:
    max_key_size = 511  # LMDB's compiled-in limit

    def __init__(self, path: str | os.PathLike[str], map_size: int = DEFAULT_MAP_SIZE) -> None:
        Path(path).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._env = lmdb.open(
            str(path),
            map_size=map_size,
            max_readers=1024,
            max_dbs=0,
            sync=True,
            metasync=True,
            mode=0o600,  # holds key secrets: its user's alone, whatever the umask
        )
        self.max_key_size = self._env.max_key_size()
        self._writer = GroupCommitWriter(self._env, "meta")
        self._full_logged = -FULL_LOG_INTERVAL

    def free_bytes(self) -> int:
        """Bytes of the map not yet used by any page (pages freed inside it are reused
        too, so this is a lower bound of the room left)."""
        info = self._env.info()
        return info["map_size"] - (info["last_pgno"] + 1) * self._env.stat()["psize"]

    async def _write(self, job: Callable[[lmdb.Transaction], T]) -> T:
        try:
            return await self._writer.submit(job)
        except lmdb.MapFullError:
            now = time.monotonic()
            if now - self._full_logged >= FULL_LOG_INTERVAL:
                self._full_logged = now
                log.error(
                    "metadata store full: raise --meta-map-size (now %d bytes)",
                    self._env.info()["map_size"],
                )
            raise MetaStoreFull("metadata store full") from None

    async def get(self, key: bytes) -> bytes | None:
        with self._env.begin(buffers=False) as txn:
            return txn.get(key)

    async def scan(
        self, start: bytes, end: bytes, limit: int = 1000, *, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        return self.scan_sync(start, end, limit, reverse=reverse)

    def scan_sync(
        self, start: bytes, end: bytes, limit: int = 1000, *, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        if limit <= 0 or start >= end:
            return out
        with self._env.begin() as txn, txn.cursor() as cur:
            if not reverse:
                ok = cur.set_range(start)
                while ok and len(out) < limit:
                    k = cur.key()
                    if k >= end:
                        break
                    out.append((k, cur.value()))
                    ok = cur.next()
            else:
                ok = cur.set_range(end)
                ok = cur.prev() if ok else cur.last()
                while ok and len(out) < limit:
                    k = cur.key()
                    if k < start:
                        break
                    if k < end:
                        out.append((k, cur.value()))
                    ok = cur.prev()
        return out

    async def commit(self, txn: Txn) -> None:
        txn.check_limits()
        for key in txn.leases:
            if len(LEASED) + 8 + len(key) > self.max_key_size or len(LEASE_OF) + len(key) > 511:
                raise ValueError(f"key of {len(key)} bytes is too long to put under a lease")
        await self._write(lambda t: _apply(t, txn))

    async def grant_lease(self, ttl: float) -> LmdbLease:
        lease = LmdbLease(self, os.urandom(8), ttl)

        def grant(t: lmdb.Transaction) -> None:
            _sweep(t)
            t.put(LEASE + lease.id, _expiry(ttl))

        await self._write(grant)
        return lease

    async def close(self) -> None:
        self._writer.close()
        self._env.close()


class LmdbLease:
    def __init__(self, kv: LmdbKV, lease_id: bytes, ttl: float) -> None:
        self.kv = kv
        self.id = lease_id
        self.ttl = ttl

    async def keepalive(self) -> bool:
        def renew(t: lmdb.Transaction) -> bool:
            _sweep(t)
            if t.get(LEASE + self.id) is None:
                return False
            t.put(LEASE + self.id, _expiry(self.ttl))
            return True

        return await self.kv._write(renew)

    async def revoke(self) -> None:
        await self.kv._write(lambda t: _end_lease(t, self.id))


def _expiry(ttl: float) -> bytes:
    return struct.pack(">Q", now_ms() + int(ttl * 1000))


def _sweep(t: lmdb.Transaction) -> None:
    """End every lease that has expired (a cursor seek when there is none)."""
    now = now_ms()
    expired = []
    with t.cursor() as cur:
        ok = cur.set_range(LEASE)
        while ok and cur.key().startswith(LEASE):
            if struct.unpack(">Q", cur.value())[0] <= now:
                expired.append(cur.key()[len(LEASE) :])
            ok = cur.next()
    for lease_id in expired:
        _end_lease(t, lease_id)


def _end_lease(t: lmdb.Transaction, lease_id: bytes) -> None:
    t.delete(LEASE + lease_id)
    prefix = LEASED + lease_id
    with t.cursor() as cur:
        keys = []
        ok = cur.set_range(prefix)
        while ok and cur.key().startswith(prefix):
            keys.append(cur.key())
            ok = cur.next()
    for k in keys:
        t.delete(k)
        key = k[len(prefix) :]
        if t.get(LEASE_OF + key) == lease_id:  # not put under a newer lease since
            t.delete(key)
            t.delete(LEASE_OF + key)


def _apply(t: lmdb.Transaction, txn: Txn) -> None:
    _sweep(t)
    for key, expected in txn.compares:
        if t.get(key) != expected:
            raise TxnConflict(key)
    for key, lease in txn.leases.items():
        if t.get(LEASE + lease.id) is None:  # type: ignore[attr-defined]
            raise LeaseExpired(key)
    for key in txn.deletes:
        t.delete(key)
    for key, value in txn.puts:
        t.put(key, value)
    for key, lease in txn.leases.items():
        lease_id: bytes = lease.id  # type: ignore[attr-defined]
        t.put(LEASED + lease_id + key, b"")
        t.put(LEASE_OF + key, lease_id)
