"""Every metadata key prefix, and the ordered encoding of object keys.

One-letter prefixes keep record families apart; all of them are defined here, so no two
families can take the same letter. Object keys sort in S3 order (UTF-8 bytes) because
the object index is a range of byte keys:

    B<bucket>                          bucket record
    O<bucket>\\0<enc(object key)>       object head (the current version)
    V<bucket>\\0<enc(key)>\\0<order:16>  version history: every version and delete marker of
                                       a versioned bucket, newest first per key (meta.versions)
    P<version id><page:4>              a page of a large object's block list
    C<block id>                        block reference count
    G<due:8><block id>                 GC queue: block whose count reached zero
    U<bucket>\\0<upload id>            multipart upload (meta.uploads)
    Q<upload id><part:4>               one part of a multipart upload
    W<upload id>                       a completed multipart upload
    JS<id>, JR<id>, JU<upload id>      journal of commits too big for one txn (meta.journal)
    K<access key>                      access key: its user, sealed secret, rights (meta.access)
    I<user name>                       user: canonical id, display name, email (meta.users)
    N<node id>, A<node id>, L          storage nodes, their liveness, layout (meta.nodes)
    E<name>                            leader election (meta.election)
    ST<bucket>, SD<bucket>\\0<id:16>   usage per bucket: folded total, per-commit deltas (meta.usage)
    H<time ms:8><random:4>             audit trail of admin changes (meta.audit)

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
VERSION = b"V"
PAGE = b"P"
REFCOUNT = b"C"
GCQUEUE = b"G"
UPLOAD = b"U"
PART = b"Q"
DONE = b"W"
JOURNAL = b"J"
STAGE = JOURNAL + b"S"
RELEASE = JOURNAL + b"R"
UPLOAD_PARTS = JOURNAL + b"U"
ACCESSKEY = b"K"
USER = b"I"
NODE = b"N"
ALIVE = b"A"
LAYOUT = b"L"
ELECTION = b"E"
USAGE = b"S"
USAGE_TOTAL = USAGE + b"T"
USAGE_DELTA = USAGE + b"D"
AUDIT = b"H"


def bucket_key(bucket: str) -> bytes:
    return BUCKET + bucket.encode()


def object_prefix(bucket: str) -> bytes:
    return OBJECT + bucket.encode() + b"\0"


def version_prefix(bucket: str) -> bytes:
    return VERSION + bucket.encode() + b"\0"


def page_key(version: bytes, page: int) -> bytes:
    return PAGE + version + u32(page)


def refcount_key(block_id: bytes) -> bytes:
    return REFCOUNT + block_id


def upload_prefix(bucket: str) -> bytes:
    return UPLOAD + bucket.encode() + b"\0"


def upload_key(bucket: str, upload_id: str) -> bytes:
    return upload_prefix(bucket) + upload_id.encode()


def part_prefix(upload_id: str) -> bytes:
    return PART + bytes.fromhex(upload_id)


def part_key(upload_id: str, number: int) -> bytes:
    return part_prefix(upload_id) + u32(number)


def done_key(upload_id: str) -> bytes:
    return DONE + bytes.fromhex(upload_id)


def upload_parts_key(upload_id: str) -> bytes:
    return UPLOAD_PARTS + bytes.fromhex(upload_id)


def access_key_key(access_key: str) -> bytes:
    return ACCESSKEY + access_key.encode()


def user_key(name: str) -> bytes:
    return USER + name.encode()


def usage_total_key(bucket: str) -> bytes:
    return USAGE_TOTAL + bucket.encode()


def usage_delta_prefix(bucket: str) -> bytes:
    return USAGE_DELTA + bucket.encode() + b"\0"


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
