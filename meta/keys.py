"""Ordered key encoding for metadata records.

One-letter prefixes keep record families apart; object keys sort in S3 order (UTF-8
bytes) because the object index is a range of byte keys:

    B<bucket>                          bucket record
    O<bucket>\\0<enc(object key)>       object head (the current version)
    P<version id><page:4>              a page of a large object's block list
    C<block id>                        block reference count
    G<due:8><block id>                 GC queue: block whose count reached zero
    U<bucket>\\0<upload id>            multipart upload (meta.uploads: also Q, W)
    J<kind><id>                        journal of commits too big for one txn (meta.journal)

Bucket names never contain NUL, so ``O<bucket>\\0`` .. ``O<bucket>\\1`` is exactly one
bucket's objects. Object keys can be 1024 bytes but a backend key may be shorter (LMDB:
511). A key that does not fit is stored as its first ``room`` bytes followed by a 16-byte
hash of the whole key. Such a key still sorts correctly against every key that differs
within the first ``room`` bytes; keys sharing those bytes form a *group* that sits
contiguously in the index, and listing (meta.store) sorts a group by the full key kept
in each record.
"""

from __future__ import annotations

import hashlib
import struct

HASH_SUFFIX = 16

BUCKET = b"B"
OBJECT = b"O"
PAGE = b"P"
REFCOUNT = b"C"
GCQUEUE = b"G"
UPLOAD = b"U"
ACCESSKEY = b"K"


def bucket_key(bucket: str) -> bytes:
    return BUCKET + bucket.encode()


def object_prefix(bucket: str) -> bytes:
    return OBJECT + bucket.encode() + b"\0"


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with prefix."""
    p = prefix.rstrip(b"\xff")
    if not p:
        raise ValueError("a prefix of only 0xff bytes has no end key")
    return p[:-1] + bytes([p[-1] + 1])


class KeyCodec:
    """Maps object keys to backend keys within one namespace prefix (e.g. a bucket)."""

    def __init__(self, prefix: bytes, max_key_size: int) -> None:
        self.prefix = prefix
        # Room for the raw key; a long key keeps `room` bytes and appends a hash.
        self.room = max_key_size - len(prefix) - HASH_SUFFIX - 1
        if self.room < 64:
            raise ValueError("backend keys are too short for this prefix")

    def encode(self, key: bytes) -> bytes:
        if len(key) <= self.room:
            return self.prefix + key
        return (
            self.prefix + key[: self.room] + hashlib.blake2b(key, digest_size=HASH_SUFFIX).digest()
        )

    def is_grouped(self, encoded: bytes) -> bool:
        return len(encoded) - len(self.prefix) > self.room

    def seek(self, key: bytes) -> bytes:
        """Backend key at or before the first record whose object key is >= key."""
        return self.prefix + key[: self.room]

    def group_range(self, encoded: bytes) -> tuple[bytes, bytes]:
        head = encoded[: len(self.prefix) + self.room]
        return head + b"\0", head + b"\xff" * (HASH_SUFFIX + 1)

    @property
    def end(self) -> bytes:
        return prefix_end(self.prefix)


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)
