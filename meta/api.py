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
        """Apply txn atomically and durably; raise TxnConflict if a compare fails."""
        ...

    async def close(self) -> None: ...
