"""Leader election on a lease, the way etcd's own election recipe does it.

    E<name>   {"holder": ...}, put under the leader's lease

A candidate holds a lease (meta.api.Lease: an etcd lease, or its LMDB equivalent) and
keeps it alive on every step. It becomes leader by putting the election key under that
lease if the key is absent, and leads while the key is there. A leader that dies stops
keeping its lease alive; the lease expires, the key goes with it, and a standby's next
campaign (every half second in `cairn meta`) takes the key: hand-over within the TTL.
A leader that cannot renew (partition, metadata unreachable) stops acting before its
lease can have expired, so two processes never act as leader at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time

from meta.api import KV, Lease, LeaseExpired, MetaError, Txn, TxnConflict
from meta.keys import ELECTION

log = logging.getLogger("cairn.election")
SAFETY = 0.8  # act as leader for this fraction of the TTL after a successful renewal


class Election:
    def __init__(self, kv: KV, name: str, holder: str, ttl: float = 5.0) -> None:
        self.kv = kv
        self.key = ELECTION + name.encode()
        self.holder = holder
        self.ttl = ttl
        self.ttl_ms = int(ttl * 1000)
        self._lease: Lease | None = None
        self._value: bytes | None = None  # the key's value while we lead
        self._valid_until = 0.0  # monotonic deadline of our leadership, with a margin

    @property
    def is_leader(self) -> bool:
        return self._value is not None and time.monotonic() < self._valid_until

    async def leader(self) -> str | None:
        raw = await self.kv.get(self.key)
        return json.loads(raw)["holder"] if raw is not None else None

    async def step(self) -> bool:
        """Renew our lease and campaign (or check we still lead) once; True while leading."""
        started = time.monotonic()
        try:
            if self._lease is None:
                self._lease = await self.kv.grant_lease(self.ttl)
            elif not await self._lease.keepalive():
                self._lost("its lease expired")
                return False
            if self._value is None:
                value = json.dumps({"holder": self.holder, "since": time.time()}).encode()
                try:
                    await self.kv.commit(
                        Txn().expect(self.key, None).put(self.key, value, lease=self._lease)
                    )
                except TxnConflict:
                    return False  # somebody else leads
                self._value = value
                log.info("%s is now the leader", self.holder)
            elif await self.kv.get(self.key) != self._value:
                self._lost("the election key changed")
                return False
        except LeaseExpired:
            self._lost("its lease expired")
            return False
        except MetaError:
            return self.is_leader  # keep acting only until the margin runs out
        self._valid_until = started + self.ttl * SAFETY
        return True

    def _lost(self, why: str) -> None:
        if self._value is not None:
            log.warning("%s is no longer the leader: %s", self.holder, why)
        self._value = None
        self._lease = None

    async def resign(self) -> None:
        """Step down at once (revoking the lease deletes the key) so a standby takes over
        without waiting for the TTL."""
        lease, self._lease, self._value = self._lease, None, None
        if lease is not None:
            with contextlib.suppress(MetaError):
                await lease.revoke()
