"""The metadata KV interface: one ordered, transactional key-value store.

Everything Cairn knows about buckets, objects, blocks and nodes is kept as records in
one ordered KV with three operations: point get, range scan, and an atomic transaction
guarded by compares. LMDB (embedded) and etcd (replicated) both implement it, and both
must pass tests/contract/test_kv_contract.py. The record layer (meta.store) is written
once on top of this interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# The largest transaction the interface promises to take: etcd's default limits (128
# compares, 128 operations, a 1.5 MiB request; a little is kept for etcd's own header).
# The record layer stays within them (meta.journal stages what does not fit), and every
# backend refuses more, so a transaction too big for etcd fails in any test, on any backend.
MAX_TXN_OPS = 128
MAX_TXN_BYTES = 1_572_864 - 1024


class MetaError(Exception):
    """Base of metadata failures."""


class MetaUnavailable(MetaError):
    """The store cannot be reached or did not answer in time: the request may be retried."""


class TxnConflict(MetaError):
    """A transaction's compares did not hold: somebody else changed a guarded key."""


class TxnTooLarge(ValueError):
    """A transaction over the interface's limits (Txn.check_limits): a bug in the caller,
    refused before anything is applied, the same way by every backend."""


class LeaseExpired(MetaError):
    """A put named a lease that has expired or been revoked."""


class Lease(Protocol):
    """A time-to-live that keys can be put under (etcd's leases): when it expires without
    a keepalive, or is revoked, every key put under it is deleted. Liveness records (a
    storage node's, an election's holder) use one, so a process that dies disappears."""

    ttl: float

    async def keepalive(self) -> bool:
        """Renew for another ttl; False if it already expired (its keys are gone)."""
        ...

    async def revoke(self) -> None: ...


@dataclass
class Txn:
    """An atomic change: if every compare holds, all puts and deletes apply together.

    A compare is (key, expected value); expected ``None`` means "the key is absent".
    Comparing whole values keeps the interface portable: etcd compares values natively,
    LMDB compares inside its single write transaction.
    """

    compares: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    puts: list[tuple[bytes, bytes]] = field(default_factory=list)
    deletes: list[bytes] = field(default_factory=list)
    leases: dict[bytes, Lease] = field(default_factory=dict)  # key -> lease it is put under

    def expect(self, key: bytes, value: bytes | None) -> Txn:
        self.compares.append((key, value))
        return self

    def put(self, key: bytes, value: bytes, lease: Lease | None = None) -> Txn:
        """Put key; under ``lease`` it is deleted when the lease ends. A key is either
        always or never put under a lease (a plain put does not detach it)."""
        self.puts.append((key, value))
        if lease is not None:
            self.leases[key] = lease
        return self

    def delete(self, key: bytes) -> Txn:
        self.deletes.append(key)
        return self

    def __len__(self) -> int:
        return len(self.compares) + len(self.puts) + len(self.deletes)

    def check_limits(self) -> None:
        """Raise TxnTooLarge if this transaction exceeds MAX_TXN_OPS or MAX_TXN_BYTES.

        Every backend calls this first in commit, so a transaction too big for etcd fails
        on LMDB too, with the same error."""
        ops = len({k for k, _ in self.puts} | set(self.deletes))
        if len(self.compares) > MAX_TXN_OPS or ops > MAX_TXN_OPS:
            raise TxnTooLarge(
                f"metadata transaction too large: {len(self.compares)} compares and {ops} "
                f"operations, the limit is {MAX_TXN_OPS} of each"
            )
        size = sum(len(k) + len(v or b"") + 8 for k, v in self.compares)
        size += sum(len(k) + len(v) + 8 for k, v in self.puts) + sum(
            len(k) + 8 for k in self.deletes
        )
        if size > MAX_TXN_BYTES:
            raise TxnTooLarge(
                f"metadata transaction too large: {size} bytes, the limit is {MAX_TXN_BYTES}"
            )


class KV(Protocol):
    """Ordered byte keys, byte values. Keys are at most ``max_key_size`` bytes."""

    max_key_size: int

    async def get(self, key: bytes) -> bytes | None: ...

    async def scan(
        self, start: bytes, end: bytes, limit: int = 1000, *, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        """Pairs with start <= key < end in key order (descending when reverse)."""
        ...

    async def commit(self, txn: Txn) -> None:
        """Apply txn atomically and durably; raise TxnConflict if a compare fails and
        TxnTooLarge (before applying anything) if txn exceeds the limits above; raise
        LeaseExpired if a put names a lease that ended."""
        ...

    async def grant_lease(self, ttl: float) -> Lease:
        """A new lease of ttl seconds (see Lease)."""
        ...

    async def close(self) -> None: ...
