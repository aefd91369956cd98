"""Wire format of listings: ListObjects (v1), ListObjectsV2, ListObjectVersions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape

from gateway.objects.types import ListedEntry as Entry
from gateway.objects.types import VersionsPage
from gateway.wire.headers import iso_date, quote_etag
from gateway.wire.xml import bool_text, document, el, opt


@dataclass
class ListingParams:
    bucket: str
    prefix: str
    delimiter: str
    max_keys: int
    encode: bool  # encoding-type=url was asked for


def _enc(value: str, p: ListingParams) -> str:
    return quote(value, safe="/") if p.encode else value


OwnerOf = Callable[[str], tuple[str, str]]
"""An entry's stored owner id ("" for the bootstrap user) -> (ID, DisplayName)."""


def _owner(owner: tuple[str, str] | None) -> str:
    if owner is None:
        return ""
    return "<Owner>" + el("ID", owner[0]) + el("DisplayName", owner[1]) + "</Owner>"


def _owners(owner_of: OwnerOf | None) -> Callable[[str], str]:
    """The <Owner> element of an entry's owner, rendered once per distinct owner."""
    seen: dict[str, str] = {}

    def render(stored: str) -> str:
        if owner_of is None:
            return ""
        hit = seen.get(stored)
        if hit is None:
            hit = seen[stored] = _owner(owner_of(stored))
        return hit

    return render


def _contents(entries: Sequence[Entry], p: ListingParams, owner_of: OwnerOf | None) -> str:
    # The hot loop of every listing: only the key needs escaping (ETags are hex, sizes
    # and dates are digits), and each owner's element is rendered once.
    owner = _owners(owner_of)
    tail = "<StorageClass>STANDARD</StorageClass></Contents>"
    parts: list[str] = []
    for e in entries:
        if e.head is None:
            parts.append("<CommonPrefixes>" + el("Prefix", _enc(e.key, p)) + "</CommonPrefixes>")
            continue
        h = e.head
        parts.append(
            f"<Contents><Key>{escape(_enc(h.key, p))}</Key>"
            f"<LastModified>{iso_date(h.mtime_ms)}</LastModified>"
            f'<ETag>"{h.etag}"</ETag><Size>{h.size}</Size>{owner(h.owner)}{tail}'
        )
    return "".join(parts)


def _common(p: ListingParams, truncated: bool) -> list[str]:
    return [
        el("Name", p.bucket),
        el("Prefix", _enc(p.prefix, p)),
        opt("Delimiter", _enc(p.delimiter, p) if p.delimiter else None),
        el("MaxKeys", p.max_keys),
        opt("EncodingType", "url" if p.encode else None),
        el("IsTruncated", bool_text(truncated)),
    ]


def list_objects_v1(
    p: ListingParams,
    entries: Sequence[Entry],
    truncated: bool,
    marker: str,
    next_marker: str | None,
    owner: OwnerOf,
) -> bytes:
    children = _common(p, truncated)
    children.insert(2, el("Marker", _enc(marker, p)))
    if next_marker is not None:
        children.append(el("NextMarker", _enc(next_marker, p)))
    children.append(_contents(entries, p, owner))
    return document("ListBucketResult", children)


def list_objects_v2(
    p: ListingParams,
    entries: Sequence[Entry],
    truncated: bool,
    continuation: str | None,
    next_token: str | None,
    start_after: str | None,
    owner: OwnerOf | None,
) -> bytes:
    children = _common(p, truncated)
    children.append(el("KeyCount", len(entries)))
    if continuation is not None:
        children.append(el("ContinuationToken", continuation))
    if next_token is not None:
        children.append(el("NextContinuationToken", next_token))
    if start_after is not None:
        children.append(el("StartAfter", _enc(start_after, p)))
    children.append(_contents(entries, p, owner))
    return document("ListBucketResult", children)


def list_object_versions(
    p: ListingParams,
    page: VersionsPage,
    key_marker: str,
    version_marker: str,
    owner_of: OwnerOf,
) -> bytes:
    """ListVersionsResult: Version and DeleteMarker entries in key order, newest first."""
    children = [
        el("Name", p.bucket),
        el("Prefix", _enc(p.prefix, p)),
        el("KeyMarker", _enc(key_marker, p)),
        el("VersionIdMarker", version_marker),
        el("MaxKeys", p.max_keys),
        opt("Delimiter", _enc(p.delimiter, p) if p.delimiter else None),
        opt("EncodingType", "url" if p.encode else None),
        el("IsTruncated", bool_text(page.truncated)),
    ]
    if page.next_key is not None:
        children.append(el("NextKeyMarker", _enc(page.next_key, p)))
    if page.next_version is not None:
        children.append(el("NextVersionIdMarker", page.next_version))
    owner = _owners(owner_of)
    for e in page.entries:
        if e.head is None:
            children.append("<CommonPrefixes>" + el("Prefix", _enc(e.key, p)) + "</CommonPrefixes>")
            continue
        h = e.head
        common = (
            el("Key", _enc(h.key, p))
            + el("VersionId", h.version_id)
            + el("IsLatest", bool_text(h.is_latest))
            + el("LastModified", iso_date(h.mtime_ms))
        )
        if h.marker:
            children.append("<DeleteMarker>" + common + owner(h.owner) + "</DeleteMarker>")
            continue
        children.append(
            "<Version>"
            + common
            + el("ETag", quote_etag(h.etag))
            + el("Size", h.size)
            + owner(h.owner)
            + el("StorageClass", "STANDARD")
            + "</Version>"
        )
    return document("ListVersionsResult", children)
