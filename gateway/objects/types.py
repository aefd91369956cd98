"""What the object service takes and gives, in its own terms.

Handlers see only these types: no metadata records, no compare-and-swap bytes. Versions
and listing entries are handed out as read-only Protocols over the records the service
read, because a GET or a listing page of 1,000 keys would pay for a copy into a second
class on every request; everything else is a small dataclass made from the record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class StoredObject(Protocol):
    """A committed version, as GET, HEAD, copies and conditions read it."""

    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def etag(self) -> str: ...
    @property
    def mtime_ms(self) -> int: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def user_meta(self) -> dict[str, str]: ...
    @property
    def inline(self) -> bytes | None: ...
    @property
    def checksums(self) -> dict[str, str]: ...
    @property
    def checksum_type(self) -> str | None: ...
    @property
    def parts(self) -> list[int] | None: ...
    @property
    def part_checksums(self) -> bytes: ...  # the parts' raw digests (gateway.checksums)
    @property
    def vid(self) -> str: ...  # the S3 version id; "null" when written unversioned
    @property
    def order(self) -> bytes: ...  # b"": written before its bucket was versioned
    @property
    def tags(self) -> dict[str, str]: ...  # the version's object tags, sorted by key
    @property
    def sse(self) -> dict[str, Any] | None: ...  # its SSE record: "m" mode, "kms", "bk"


class ObjectSummary(Protocol):
    """What a listing shows of an object."""

    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def etag(self) -> str: ...
    @property
    def mtime_ms(self) -> int: ...
    @property
    def owner(self) -> str: ...


class ListedEntry(Protocol):
    """One row of a listing page: an object, or a common prefix when ``head`` is None."""

    @property
    def key(self) -> str: ...
    @property
    def head(self) -> ObjectSummary | None: ...


WriteCondition = Callable[[StoredObject | None], None]
"""Checks the current version (None: absent) before a write; raises to refuse it."""

ReadCondition = Callable[[StoredObject], None]
"""Checks a source version before it is read; raises to refuse it."""

Verify = Callable[[int, bytes], None]
"""Sees a stored body's size and MD5 before anything refers to it; raises to refuse it
(a wrong Content-MD5, a body over the size limit), and then nothing becomes visible."""


@dataclass(frozen=True)
class ObjectLock:
    """A version's object lock, as a write sets it (x-amz-object-lock-* headers) or
    GetObjectRetention, GetObjectLegalHold and HEAD read it: a retention (mode and
    retain-until date, both or neither) and a legal hold; None: not set."""

    mode: str | None = None  # GOVERNANCE or COMPLIANCE
    until_ms: int | None = None  # the retain-until date, ms since the epoch
    legal_hold: str | None = None  # ON or OFF


@dataclass
class LockRule:
    """A bucket's default retention: a mode and exactly one of days and years."""

    mode: str
    days: int | None = None
    years: int | None = None


@dataclass
class BucketLock:
    """A bucket's object lock configuration: lock is on, maybe with a default retention."""

    rule: LockRule | None = None


Bypass = Callable[[str, str | None], Awaitable[bool]]
"""May the caller bypass the GOVERNANCE retention of this version (key, version id;
None: the current one)?
Asked only when such a retention stands in the way (the gateway decides
s3:BypassGovernanceRetention for a request that sent x-amz-bypass-governance-retention)."""


@dataclass
class ObjectAttrs:
    """What a writer says about a new version besides its bytes."""

    headers: dict[str, str] = field(default_factory=dict)  # content-type, cache-control, ...
    user_meta: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* without the prefix
    owner: str = ""  # the new version's owner (user id); "": the bootstrap user
    acl: dict[str, Any] | None = None  # its ACL (gateway.authz.acl.Acl.to_dict); None: private
    tags: dict[str, str] = field(default_factory=dict)  # its object tags (x-amz-tagging)
    lock: ObjectLock | None = None  # its own object lock; None: the bucket's default, if any


@dataclass(frozen=True)
class SseRequest:
    """The server-side encryption a request asks for (gateway/encryption.py parses it):
    ``mode`` "AES256" (SSE-S3), "aws:kms" (SSE-KMS) or "SSE-C"; the customer key only
    for this request, never stored."""

    mode: str
    customer_key: bytes | None = field(default=None, repr=False)
    customer_key_md5: str = ""
    kms_key: str | None = None
    bucket_key: bool = False


@dataclass
class BucketInfo:
    name: str
    created_ms: int
    region: str
    owner: str = ""  # "": the bootstrap user (buckets made before owners existed)


@dataclass
class BucketConfig:
    """A bucket's owner and access configuration, as the authorization step reads it."""

    name: str
    owner: str  # "": the bootstrap user
    acl: dict[str, Any] | None = None  # Acl.to_dict; None: the owner's FULL_CONTROL
    policy: str | None = None  # the bucket policy's JSON text
    ownership: str | None = None  # ObjectOwnership; None: ObjectWriter (older buckets)
    pab: dict[str, bool] | None = None  # Public Access Block flags


class ObjectAccess(Protocol):
    """An object's owner and ACL, for an access decision."""

    @property
    def owner(self) -> str: ...
    @property
    def acl(self) -> dict[str, Any] | None: ...
    @property
    def tags(self) -> dict[str, str]: ...  # read only for s3:ExistingObjectTag conditions


@dataclass
class BucketsPage:
    """A page of ListBuckets; when ``truncated`` the next page starts after the last."""

    buckets: list[BucketInfo]
    truncated: bool


@dataclass
class ObjectPage:
    """One page of a listing; ``next_marker`` is where the next page starts, if any."""

    entries: list[ListedEntry]
    truncated: bool
    next_marker: str | None


@dataclass
class Deleted:
    """What a delete did: ``version_id`` is the version asked for, if any; ``marker``:
    a delete marker was made (no version asked for) or removed (asked for by id)."""

    key: str
    version_id: str | None = None
    marker: bool = False
    marker_version_id: str | None = None  # the delete marker made or removed


@dataclass
class DeleteOutcome:
    """DeleteObjects, key by key: S3 reports each key's failure rather than failing all."""

    deleted: list[Deleted]
    failed: list[tuple[str, str | None, BaseException]]  # key, version id asked for, why


class VersionSummary(ObjectSummary, Protocol):
    """What ListObjectVersions shows of a version or delete marker: a listing's summary,
    and which version it is."""

    @property
    def version_id(self) -> str: ...
    @property
    def marker(self) -> bool: ...
    @property
    def is_latest(self) -> bool: ...


class VersionEntry(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def head(self) -> VersionSummary | None: ...


@dataclass
class VersionsPage:
    entries: Sequence[VersionEntry]
    truncated: bool
    next_key: str | None
    next_version: str | None


@dataclass
class UploadInfo:
    upload_id: str
    bucket: str
    key: str
    initiated_ms: int
    checksum_algorithm: str | None
    checksum_type: str | None
    owner: str = ""
    sse: dict[str, Any] | None = None  # the upload's SSE record: its parts' encryption


@dataclass
class PartInfo:
    number: int
    etag: str
    size: int
    mtime_ms: int
    checksums: dict[str, str]


class RequestedPart(Protocol):
    """A part as a CompleteMultipartUpload request names it."""

    @property
    def number(self) -> int: ...
    @property
    def etag(self) -> str: ...
    @property
    def checksums(self) -> dict[str, str]: ...


@dataclass
class Completed:
    """What a Complete answers, the first time or when asked again."""

    etag: str
    checksums: dict[str, str]
    checksum_type: str | None
    version_id: str | None = None  # the new version's id, on a versioned bucket


@dataclass
class PartsPage:
    parts: list[PartInfo]
    truncated: bool


@dataclass
class UploadsPage:
    uploads: list[UploadInfo]
    prefixes: list[str]
    truncated: bool
