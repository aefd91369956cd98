"""GetObjectAttributes, pure: which attributes were asked for, and the answer's XML.

The request names the attributes in ``x-amz-object-attributes`` (comma-separated: ETag,
Checksum, ObjectParts, StorageClass, ObjectSize); an empty or unknown name is refused as
AWS refuses it. The ETag is given without quotes, as AWS gives it here. ObjectParts is
shown only for a multipart object, a page of its parts after ``x-amz-part-number-marker``
of at most ``x-amz-max-parts`` (default and cap 1,000); a part's checksum is shown only
when one is stored for it (a multipart upload made with a checksum algorithm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.errors import InvalidArgument
from gateway.wire.xml import bool_text, document, el, opt

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000


@dataclass(frozen=True)
class PartsPage:
    """Which page of ObjectParts was asked for."""

    max_parts: int = MAX_PARTS
    marker: int = 0


@dataclass(frozen=True)
class Attributes:
    """What the answer may show; ``parts`` is the part sizes of a multipart object."""

    etag: str
    size: int
    storage_class: str
    checksums: Mapping[str, str]
    checksum_type: str | None
    parts: Sequence[int] | None
    # Each part's checksums by algorithm, in part order; empty: none kept for the parts.
    part_checksums: Sequence[Mapping[str, str]] = ()


def asked(headers: Mapping[str, str]) -> frozenset[str]:
    """The attribute names of ``x-amz-object-attributes``: InvalidArgument when it is
    missing or names something else."""
    names = [n.strip() for n in headers.get("x-amz-object-attributes", "").split(",")]
    names = [n for n in names if n]
    if not names:
        raise InvalidArgument(
            "Invalid attribute name specified.", ArgumentName="x-amz-object-attributes"
        )
    for name in names:
        if name not in ATTRIBUTES:
            raise InvalidArgument(
                "Invalid attribute name specified.",
                ArgumentName="x-amz-object-attributes",
                ArgumentValue=name,
            )
    return frozenset(names)


def parts_page(headers: Mapping[str, str]) -> PartsPage:
    """x-amz-max-parts and x-amz-part-number-marker, each a whole number >= 0."""
    return PartsPage(
        max_parts=min(_number(headers, "x-amz-max-parts", MAX_PARTS), MAX_PARTS),
        marker=_number(headers, "x-amz-part-number-marker", 0),
    )


def _number(headers: Mapping[str, str], name: str, default: int) -> int:
    value = headers.get(name)
    if value is None:
        return default
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise InvalidArgument(f"Invalid {name} value", ArgumentName=name, ArgumentValue=value)
    return int(value)


def render(attrs: Attributes, names: frozenset[str], page: PartsPage) -> bytes:
    """The GetObjectAttributesResponse document holding the asked-for ``names``."""
    out: list[str] = []
    if "ETag" in names:
        out.append(el("ETag", attrs.etag.strip('"')))
    if "Checksum" in names and attrs.checksums:
        out.append(_checksum(attrs.checksums, attrs.checksum_type))
    if "ObjectParts" in names and attrs.parts:
        out.append(_parts(attrs.parts, attrs.part_checksums, page))
    if "StorageClass" in names:
        out.append(el("StorageClass", attrs.storage_class))
    if "ObjectSize" in names:
        out.append(el("ObjectSize", attrs.size))
    return document("GetObjectAttributesResponse", out)


def _checksum(sums: Mapping[str, str], checksum_type: str | None) -> str:
    # A COMPOSITE value is shown without its "-N" part count (which GET, HEAD and
    # Complete carry): AWS gives it so here, next to ObjectParts' count.
    inner = "".join(
        el("Checksum" + alg.upper(), v.split("-")[0]) for alg, v in sorted(sums.items())
    )
    return "<Checksum>" + inner + opt("ChecksumType", checksum_type) + "</Checksum>"


def _part_sums(sums: Mapping[str, str]) -> str:
    return "".join(el("Checksum" + alg.upper(), v) for alg, v in sorted(sums.items()))


def _parts(sizes: Sequence[int], part_sums: Sequence[Mapping[str, str]], page: PartsPage) -> str:
    first = page.marker  # part numbers start at 1: the page begins after the marker
    shown = list(enumerate(sizes[first : first + page.max_parts], start=first + 1))
    truncated = first + page.max_parts < len(sizes)
    rows = "".join(
        "<Part>"
        + el("PartNumber", n)
        + el("Size", size)
        + _part_sums(part_sums[n - 1] if n <= len(part_sums) else {})
        + "</Part>"
        for n, size in shown
    )
    return (
        "<ObjectParts>"
        + el("PartsCount", len(sizes))
        + el("PartNumberMarker", page.marker)
        + opt("NextPartNumberMarker", shown[-1][0] if truncated and shown else None)
        + el("MaxParts", page.max_parts)
        + el("IsTruncated", bool_text(truncated))
        + rows
        + "</ObjectParts>"
    )
