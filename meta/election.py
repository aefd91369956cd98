"""Leader election over the KV interface: one lease record, taken and renewed by
compare-and-swap.

    E<name>   {"holder": ..., "expires_ms": ...}

A candidate takes the record when it is absent or expired, and renews it every third of
the TTL with a compare on the exact value it wrote. A leader that cannot renew (crash,
partition, metadata unreachable) stops acting before its lease can have expired, and
another candidate takes over within one TTL. The same code runs on LMDB and etcd; it
assumes clocks within a small fraction of the TTL of each other (NTP), which is what
etcd's own leases assume of its members' timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from meta.api import KV, MetaError, Txn, TxnConflict
from meta.records import now_ms

log = logging.getLogger("cairn.election")
ELECTION = b"E"


class Election:
    def __init__(self, kv: KV, name: str, holder: str, ttl: float = 5.0) -> None:
        self.kv = kv
        self.key = ELECTION + name.encode()
        self.holder = holder
        self.ttl_ms = int(ttl * 1000)
        self._raw: bytes | None = None
        self._valid_until = 0.0  # monotonic deadline of our own lease, with a margin

    @property
    def is_leader(self) -> bool:
        return self._raw is not None and time.monotonic() < self._valid_until

    async def leader(self) -> str | None:
        raw = await self.kv.get(self.key)
        if raw is None:
            return None
        d = json.loads(raw)
        return d["holder"] if d["expires_ms"] > now_ms() else None

    async def step(self) -> bool:
        """Campaign or renew once; True while this process leads."""
        started = time.monotonic()
        try:
            current = await self.kv.get(self.key)
            if current is not None and current != self._raw:
                d = json.loads(current)
                if d["holder"] != self.holder and d["expires_ms"] > now_ms():
                    self._raw = None
                    return False
            new = json.dumps({"holder": self.holder, "expires_ms": now_ms() + self.ttl_ms}).encode()
            await self.kv.commit(Txn().expect(self.key, current).put(self.key, new))
        except (TxnConflict, MetaError):
            self._raw = None
            return False
        if self._raw is None:
            log.warning("%s is now the leader", self.holder)
        self._raw = new
        # Count the lease from before the request went out, and keep a margin for skew.
        self._valid_until = started + self.ttl_ms / 1000 * 0.8
        return True

    async def resign(self) -> None:
        if self._raw is not None:
            with contextlib.suppress(TxnConflict, MetaError):
                await self.kv.commit(Txn().expect(self.key, self._raw).delete(self.key))
            self._raw = None

    async def run(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(self.ttl_ms / 1000 / 3)
