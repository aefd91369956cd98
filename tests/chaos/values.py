"""Object bodies derived from (origin key, write id): a read identifies exactly which write
it saw, and a body that is not byte for byte some write's body is torn.

The first bytes are a readable header naming the write, the rest is SHAKE-256 of the
header (an extendable-output hash, made in C), so two writes never share bytes by accident, while a re-PUT of
the same write under another key shares every block with it (dedup races GC)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Value:
    """One write's content: who made it and how big it is; parts split a multipart body."""

    origin: str  # the key the write was first made for
    wid: int  # the write id, unique per campaign trial
    size: int
    parts: tuple[int, ...] = ()  # part sizes of a multipart upload (sum == size)

    @property
    def ident(self) -> str:
        return f"{self.origin}#{self.wid}"


def body(value: Value) -> bytes:
    """The full body of `value`: a header, then a stream keyed by the header."""
    header = f"<{value.ident}>".encode()
    need = max(0, value.size - len(header))
    return (header + hashlib.shake_256(header).digest(need))[: value.size]


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def ident_of(data: bytes) -> str | None:
    """The write a full body claims to be (its header), or None when it has none."""
    if not data.startswith(b"<"):
        return None
    end = data.find(b">", 0, 300)
    return data[1:end].decode(errors="replace") if end > 0 else None
