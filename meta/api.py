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

    def expect(self, key: bytes, value: bytes | None) -> Txn:
        self.compares.append((key, value))
        return self

    def put(self, key: bytes, value: bytes) -> Txn:
        self.puts.append((key, value))
        return self

    def delete(self, key: bytes) -> Txn:
        self.deletes.append(key)
        return self

    def __len__(self) -> int:
        return len(self.compares) + len(self.puts) + len(self.deletes)

    def check_limits(self) -> None:
        """Raise ValueError if this transaction exceeds MAX_TXN_OPS or MAX_TXN_BYTES."""
        ops = len({k for k, _ in self.puts} | set(self.deletes))
        if len(self.compares) > MAX_TXN_OPS or ops > MAX_TXN_OPS:
            raise ValueError(
                f"metadata transaction too large: {len(self.compares)} compares and {ops} "
                f"operations, the limit is {MAX_TXN_OPS} of each"
            )
        size = sum(len(k) + len(v or b"") + 8 for k, v in self.compares)
        size += sum(len(k) + len(v) + 8 for k, v in self.puts) + sum(
            len(k) + 8 for k in self.deletes
        )
        if size > MAX_TXN_BYTES:
            raise ValueError(
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
        ValueError (before applying anything) if txn exceeds the limits above."""
        ...

    async def close(self) -> None: ...
