"""S3 headers in and out: stored headers, x-amz-meta-*, ETags, HTTP dates, Range, If-*."""

from __future__ import annotations

import base64
import email.utils
import functools
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Protocol

from gateway.errors import (
    InvalidRange,
    InvalidStorageClass,
    MetadataTooLarge,
    NoSuchKey,
    NotModified,
    PreconditionFailed,
)


class Version(Protocol):
    """What conditions and GET/HEAD headers read of an object version."""

    @property
    def etag(self) -> str: ...
    @property
    def mtime_ms(self) -> int: ...


class StoredVersion(Version, Protocol):
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def user_meta(self) -> dict[str, str]: ...
    @property
    def parts(self) -> list[int] | None: ...
    @property
    def checksums(self) -> dict[str, str]: ...
    @property
    def checksum_type(self) -> str | None: ...


# Headers stored with an object and returned on GET/HEAD as they were sent.
STORED_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-website-redirect-location",
)
META_PREFIX = "x-amz-meta-"
MAX_USER_META = 2048  # AWS: user-defined metadata is limited to 2 KB
RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


# x-amz-storage-class: AWS's names. Cairn keeps every object the same way, so it accepts
# the classes that read back at once (stored and echoed as S3 does, nothing else changes)
# and refuses the archive classes (their GETs need a restore Cairn does not have) and the
# place-bound ones (Outposts, Snow, directory buckets).
STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER_IR",
    }
)


def storage_class(headers: Mapping[str, str]) -> dict[str, str]:
    """The x-amz-storage-class to store: none for STANDARD (S3 does not echo it either);
    InvalidStorageClass for a class Cairn does not offer, before anything is written."""
    value = headers.get("x-amz-storage-class")
    if value is None or value == "STANDARD":
        return {}
    if value not in STORAGE_CLASSES:
        raise InvalidStorageClass(StorageClassRequested=value)
    return {"x-amz-storage-class": value}


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out = {h: headers[h] for h in STORED_HEADERS if h in headers}
    out.update(storage_class(headers))
    enc = out.get("content-encoding")
    if enc is not None and "aws-chunked" in enc.lower():
        out.pop("content-encoding")
        kept = _without_aws_chunked(enc)
        if kept:
            out["content-encoding"] = kept
    return out


def _without_aws_chunked(value: str) -> str:
    """Content-Encoding minus aws-chunked, which describes the transfer, not the object
    (AWS drops it). Other codings keep their order and are joined as a list is written
    (", "); a value without aws-chunked is stored exactly as sent."""
    codings = [c.strip() for c in value.split(",")]
    return ", ".join(c for c in codings if c and c.lower() != "aws-chunked")


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    meta = {k[len(META_PREFIX) :]: v for k, v in headers.items() if k.startswith(META_PREFIX)}
    if sum(len(k) + len(v) for k, v in meta.items()) > MAX_USER_META:
        raise MetadataTooLarge()
    return meta


def mail_safe(value: str) -> str:
    """A user metadata value as S3 returns it: as it is when US-ASCII, otherwise an RFC 2047
    encoded word of its UTF-8 (``=?UTF-8?B?...?=``), so the header stays ASCII.

    A header value arrives as bytes, kept as one character per byte (ISO-8859-1); like S3,
    that string is what is UTF-8 encoded, so the bytes a client sent as UTF-8 come back
    encoded twice: "é" sent as C3 A9 is returned as =?UTF-8?B?w4PCqQ==?=, exactly as S3
    documents ("ÄMÄZÕÑ S3" -> =?UTF-8?B?w4PChE3Dg8KEWsODwpXDg8KRIFMz?=)."""
    if value.isascii():
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode("utf-8")).decode("ascii") + "?="


def quote_etag(etag: str) -> str:
    return f'"{etag}"'


def http_date(ms: int) -> str:
    return email.utils.formatdate(ms // 1000, usegmt=True)


def iso_date(ms: int) -> str:
    return _iso_second(ms // 1000) + f".{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    # Cached: a listing page formats 1,000 dates, mostly of the same few seconds.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch, or None for an unparseable date (which S3 ignores)."""
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # Overflow: a year of 30 digits
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def object_headers(head: StoredVersion, checksum_mode: bool = False) -> dict[str, str]:
    h = {
        "etag": quote_etag(head.etag),
        "last-modified": http_date(head.mtime_ms),
        "accept-ranges": "bytes",
        "content-type": "binary/octet-stream",
    }
    h.update(head.headers)
    for k, v in head.user_meta.items():
        h[META_PREFIX + k] = mail_safe(v)
    if head.parts:
        h["x-amz-mp-parts-count"] = str(len(head.parts))
    if checksum_mode:
        for alg, value in head.checksums.items():
            h["x-amz-checksum-" + alg.lower()] = value
        if head.checksums and head.checksum_type:
            h["x-amz-checksum-type"] = head.checksum_type
    return h


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) for a single bytes range; None means the whole object.

    Malformed or multi-range headers are ignored, as S3 does; a range that starts
    beyond the object is InvalidRange (416).
    """
    if not value:
        return None
    value = value.strip()
    if not value.startswith("bytes=") or "," in value:
        return None
    spec = value[6:].strip()
    first, sep, last = spec.partition("-")
    if not sep:
        return None
    first, last = first.strip(), last.strip()
    try:
        if first == "":
            if not last.isdigit():
                return None
            n = int(last)
            if n == 0:
                raise InvalidRange(ActualObjectSize=str(size), RangeRequested=value)
            # The tail of an empty object is the whole (empty) object: a 200, as S3 answers
            # a tail read of an empty file, never a 206 with "bytes 0--1/0".
            return (max(size - n, 0), size) if size else None
        if not first.isdigit() or (last and not last.isdigit()):
            return None
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size:
        raise InvalidRange(ActualObjectSize=str(size), RangeRequested=value)
    if end <= start:
        return None
    return start, min(end, size)


def _etag_matches(header: str, etag: str) -> bool:
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == "*" or tag.strip('"') == etag:
            return True
    return False


def check_read_conditions(headers: Mapping[str, str], head: Version, prefix: str = "if-") -> None:
    """RFC 7232 as S3 applies it: If-Match/If-Unmodified-Since fail with 412,
    If-None-Match/If-Modified-Since with 304. ``prefix`` is "x-amz-copy-source-if-" for
    copies, where every failure is a 412."""
    copy = prefix != "if-"
    mtime = head.mtime_ms // 1000
    if_match = headers.get(prefix + "match")
    if_none = headers.get(prefix + "none-match")
    if if_match is not None:
        if not _etag_matches(if_match, head.etag):
            raise PreconditionFailed(Condition="If-Match")
    else:
        since = headers.get(prefix + "unmodified-since")
        t = parse_http_date(since) if since else None
        if t is not None and mtime > t:
            raise PreconditionFailed(Condition="If-Unmodified-Since")
    if if_none is not None:
        if _etag_matches(if_none, head.etag):
            raise (
                PreconditionFailed(Condition="If-None-Match")
                if copy
                else NotModified(
                    headers={
                        "etag": quote_etag(head.etag),
                        "last-modified": http_date(head.mtime_ms),
                    }
                )
            )
    else:
        since = headers.get(prefix + "modified-since")
        t = parse_http_date(since) if since else None
        if t is not None and mtime <= t and t <= _now_s():
            raise (
                PreconditionFailed(Condition="If-Modified-Since")
                if copy
                else NotModified(
                    headers={
                        "etag": quote_etag(head.etag),
                        "last-modified": http_date(head.mtime_ms),
                    }
                )
            )


def write_condition(headers: Mapping[str, str]) -> Callable[[Version | None], None] | None:
    """If-None-Match / If-Match on a write, as a check of the current head (None if absent).

    If-None-Match: * refuses any current version; an ETag list refuses a current version
    whose ETag is in it (RFC 7232, as S3 applies it to GET), so a client can overwrite
    "unless it is still this version". If-Match on a missing key is NoSuchKey (404), as AWS
    answers, since there is nothing to match."""
    if_none = headers.get("if-none-match")
    if_match = headers.get("if-match")
    if if_none is None and if_match is None:
        return None

    def check(current: Version | None) -> None:
        if if_none is not None and current is not None and _etag_matches(if_none, current.etag):
            raise PreconditionFailed(Condition="If-None-Match")
        if if_match is not None:
            if current is None:
                raise NoSuchKey()
            if not _etag_matches(if_match, current.etag):
                raise PreconditionFailed(Condition="If-Match")

    return check


def _now_s() -> int:
    return int(time.time())
