"""Metadata records: compact msgpack values, one dataclass per record family.

Each record carries a schema version (field "_") so that later releases can read what
earlier ones wrote. Field names on disk are short; the dataclass names say what they are.
The record types of multipart uploads live here too, beside the others, so that the
journal can read part records without importing meta.uploads.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgpack

SCHEMA = 1
PAGE_BLOCKS = 1024  # block-list entries per page record (~45 KiB)
INLINE_BLOCKS = 256  # up to this many blocks live in the head itself (~11 KiB)


def pack_record(d: dict[str, Any]) -> bytes:
    """A record map as stored, with its schema version."""
    d["_"] = SCHEMA
    return msgpack.packb(d, use_bin_type=True)


def unpack_record(raw: bytes) -> dict[str, Any]:
    return msgpack.unpackb(raw, raw=False)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class BucketRecord:
    name: str
    created_ms: int
    region: str = "us-east-1"
    # "active" or "deleting": DeleteBucket marks the bucket first, then checks it is empty,
    # so a PUT that commits concurrently either lands before (and is seen) or fails.
    state: str = "active"
    # The owning user's canonical id; "" in records written before owners existed, which
    # belong to the bootstrap user (the gateway resolves that).
    owner: str = ""
    # Access configuration, each entry absent until set: "acl" (an ACL's to_dict), "policy"
    # (the policy's JSON text), "ownership" (ObjectOwnership), "pab" (Public Access Block
    # flags). Kept in the bucket record so that one read gives the gateway all it decides on.
    config: dict[str, Any] = field(default_factory=dict)
    # Whether every commit keeps the bucket's usage counters (meta.usage): true from
    # creation; a bucket made before the counters existed is counted once by the
    # housekeeper's backfill, which then sets it.
    counted: bool = False

    def to_bytes(self) -> bytes:
        d: dict[str, Any] = {
            "n": self.name,
            "c": self.created_ms,
            "r": self.region,
            "s": self.state,
        }
        if self.owner:
            d["o"] = self.owner
        if self.config:
            d["cf"] = self.config
        if self.counted:
            d["u"] = 1
        return pack_record(d)

    @classmethod
    def from_bytes(cls, raw: bytes) -> BucketRecord:
        d = unpack_record(raw)
        return cls(
            d["n"], d["c"], d.get("r", "us-east-1"), d.get("s", "active"), d.get("o", ""),
            d.get("cf", {}), bool(d.get("u")),
        )  # fmt: skip


BlockRef = tuple[bytes, int]  # (block id, size in bytes)


@dataclass
class ObjectHead:
    """The current version of an object: what GET, HEAD and listings need.

    Small objects keep their bytes in ``inline``; others list their blocks, either in
    ``blocks`` or, for large objects, in ``pages`` block-list records (meta.keys.PAGE) so
    that no record grows with the object.
    """

    key: str
    version: bytes = field(default_factory=lambda: os.urandom(16))
    size: int = 0
    etag: str = ""
    mtime_ms: int = field(default_factory=now_ms)
    headers: dict[str, str] = field(default_factory=dict)  # content-type, cache-control, ...
    user_meta: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* without the prefix
    inline: bytes | None = None
    blocks: list[BlockRef] | None = None
    pages: int = 0
    checksums: dict[str, str] = field(default_factory=dict)  # "CRC32" -> base64
    checksum_type: str | None = None
    parts: list[int] | None = None  # part sizes of a multipart object
    # The parts' raw digests in the object's checksum algorithm, concatenated in part order
    # (GET ?partNumber and GetObjectAttributes show them); b"": none kept.
    part_checksums: bytes = b""
    owner: str = ""  # the writer's (or bucket owner's) user id; "": the bootstrap user
    acl: dict[str, Any] | None = None  # the object's ACL (to_dict form); None: owner only
    # Versioning (meta.versions): the S3 version id ("null" for writes of an unversioned or
    # suspended bucket); the version's place in the history index (b"": a head written
    # before its bucket was versioned, kept only in the current-version index); and
    # whether it is a delete marker. Later per-version state (retention, legal hold,
    # tags) belongs in ``extra``, which is stored as it is.
    vid: str = "null"
    order: bytes = b""
    marker: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tags(self) -> dict[str, str]:
        """The version's object tags (``extra["tags"]``), sorted by key; {} when none."""
        tags = self.extra.get("tags")
        return tags if isinstance(tags, dict) else {}

    def set_tags(self, tags: dict[str, str]) -> None:
        """Replace the version's tags; no tags leaves no entry."""
        if tags:
            self.extra["tags"] = dict(tags)
        else:
            self.extra.pop("tags", None)

    @property
    def sse(self) -> dict[str, Any] | None:
        """The version's SSE record (meta/datakeys.py: mode and wrapped data key, never a
        key in the clear); None: stored as plaintext."""
        return self.extra.get("sse")

    def set_sse(self, record: dict[str, Any] | None) -> None:
        if record:
            self.extra["sse"] = record
        else:
            self.extra.pop("sse", None)

    def to_bytes(self) -> bytes:
        d: dict[str, Any] = {
            "k": self.key,
            "v": self.version,
            "s": self.size,
            "e": self.etag,
            "t": self.mtime_ms,
        }
        if self.headers:
            d["h"] = self.headers
        if self.user_meta:
            d["m"] = self.user_meta
        if self.inline is not None:
            d["d"] = self.inline
        if self.blocks is not None:
            d["b"] = [[h, n] for h, n in self.blocks]
        if self.pages:
            d["p"] = self.pages
        if self.checksums:
            d["x"] = self.checksums
        if self.checksum_type:
            d["xt"] = self.checksum_type
        if self.parts:
            d["pt"] = self.parts
        if self.part_checksums:
            d["pc"] = self.part_checksums
        if self.owner:
            d["o"] = self.owner
        if self.acl is not None:
            d["a"] = self.acl
        if self.order:  # a non-null id is its order's time and random bytes: not stored
            d["vo"] = self.order
            if self.vid == "null":
                d["vn"] = True
        if self.marker:
            d["dm"] = True
        if self.extra:
            d["ex"] = self.extra
        return pack_record(d)

    @classmethod
    def from_bytes(cls, raw: bytes) -> ObjectHead:
        d = unpack_record(raw)
        b = d.get("b")
        return cls(
            key=d["k"],
            version=d["v"],
            size=d["s"],
            etag=d["e"],
            mtime_ms=d["t"],
            headers=d.get("h", {}),
            user_meta=d.get("m", {}),
            inline=d.get("d"),
            blocks=[(h, n) for h, n in b] if b is not None else None,
            pages=d.get("p", 0),
            checksums=d.get("x", {}),
            checksum_type=d.get("xt"),
            parts=d.get("pt"),
            part_checksums=d.get("pc", b""),
            owner=d.get("o", ""),
            acl=d.get("a"),
            vid=version_id(d),
            order=d.get("vo", b""),
            marker=d.get("dm", False),
            extra=d.get("ex", {}),
        )


_U64 = (1 << 64) - 1


def version_id(d: dict[str, Any]) -> str:
    """A stored record's S3 version id: "null", or the hex of the time and random bytes its
    history order holds (meta.versions)."""
    order = d.get("vo")
    if not order or d.get("vn"):
        return "null"
    t = _U64 - int.from_bytes(order[:8], "big")
    return t.to_bytes(8, "big").hex() + order[8:].hex()


class VersionSummary(NamedTuple):
    """What ListObjectVersions shows of a version or delete marker."""

    key: str
    size: int
    etag: str
    mtime_ms: int
    owner: str
    version_id: str
    marker: bool
    is_latest: bool

    @classmethod
    def from_bytes(cls, raw: bytes, is_latest: bool) -> VersionSummary:
        d = unpack_record(raw)
        return cls(
            d["k"], d["s"], d["e"], d["t"], d.get("o", ""), version_id(d), d.get("dm", False),
            is_latest,
        )  # fmt: skip


class ObjectSummary(NamedTuple):
    """What a listing shows of an object: decoded without building a whole ObjectHead,
    since listing 1,000 heads is the hot loop of a listing page."""

    key: str
    size: int
    etag: str
    mtime_ms: int
    owner: str = ""

    @classmethod
    def from_bytes(cls, raw: bytes) -> ObjectSummary:
        d = unpack_record(raw)
        return cls(d["k"], d["s"], d["e"], d["t"], d.get("o", ""))


def pack_page(blocks: list[BlockRef]) -> bytes:
    return msgpack.packb([[h, n] for h, n in blocks], use_bin_type=True)


def unpack_page(raw: bytes) -> list[BlockRef]:
    return [(h, n) for h, n in msgpack.unpackb(raw, raw=False)]


DELETING = -1


@dataclass(frozen=True)
class RefCount:
    """How many committed versions refer to a block.

    The nonce changes on every write, so a compare on the raw value detects any change
    in between (no ABA): that is what makes dedup safe against a concurrent GC.
    ``count == DELETING`` means GC has claimed the block and is removing it.
    """

    count: int
    nonce: bytes

    def to_bytes(self) -> bytes:
        return msgpack.packb([self.count, self.nonce], use_bin_type=True)

    @classmethod
    def from_bytes(cls, raw: bytes) -> RefCount:
        c, n = msgpack.unpackb(raw, raw=False)
        return cls(c, n)

    @classmethod
    def new(cls, count: int) -> RefCount:
        return cls(count, os.urandom(8))


@dataclass
class Upload:
    """An open multipart upload. Its nonce changes with every part commit, so Complete can
    prove no part changed by comparing this one record (meta.uploads)."""

    upload_id: str
    bucket: str
    key: str
    initiated_ms: int = field(default_factory=now_ms)
    headers: dict[str, str] = field(default_factory=dict)
    user_meta: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None
    nonce: bytes = b""
    owner: str = ""  # who started it (the completed object's owner); "": bootstrap user
    acl: dict[str, Any] | None = None  # the ACL the request set, applied at Complete
    tags: dict[str, str] = field(default_factory=dict)  # x-amz-tagging, applied at Complete
    # Object lock the request set (meta.lock's version entries), applied at Complete.
    lock: dict[str, Any] = field(default_factory=dict)
    sse: dict[str, Any] | None = None  # the upload's SSE record (meta/datakeys.py)

    def bumped(self) -> bytes:
        """The record with a new nonce: what a part commit writes."""
        self.nonce = os.urandom(8)
        return self.to_bytes()

    def to_bytes(self) -> bytes:
        return msgpack.packb(
            {
                "_": SCHEMA,
                "b": self.bucket,
                "k": self.key,
                "i": self.initiated_ms,
                "h": self.headers,
                "m": self.user_meta,
                "ca": self.checksum_algorithm,
                "ct": self.checksum_type,
                "n": self.nonce,
                **({"o": self.owner} if self.owner else {}),
                **({"a": self.acl} if self.acl is not None else {}),
                **({"tg": self.tags} if self.tags else {}),
                **({"lk": self.lock} if self.lock else {}),
                **({"se": self.sse} if self.sse else {}),
            },
            use_bin_type=True,
        )

    @classmethod
    def from_bytes(cls, upload_id: str, raw: bytes) -> Upload:
        d = unpack_record(raw)
        return cls(
            upload_id, d["b"], d["k"], d["i"], d["h"], d["m"], d.get("ca"), d.get("ct"),
            d.get("n", b""), d.get("o", ""), d.get("a"), d.get("tg", {}), d.get("lk", {}),
            d.get("se"),
        )  # fmt: skip


@dataclass
class Part:
    """One committed part: it holds references to its blocks until the upload ends."""

    number: int
    etag: str
    size: int
    blocks: list[BlockRef]
    mtime_ms: int = field(default_factory=now_ms)
    checksums: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return msgpack.packb(
            {
                "_": SCHEMA,
                "n": self.number,
                "e": self.etag,
                "s": self.size,
                "b": [[h, n] for h, n in self.blocks],
                "t": self.mtime_ms,
                "x": self.checksums,
            },
            use_bin_type=True,
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Part:
        d = unpack_record(raw)
        return cls(d["n"], d["e"], d["s"], [(h, n) for h, n in d["b"]], d["t"], d.get("x", {}))
