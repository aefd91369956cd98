"""GetObjectAttributes's wire: the attribute header, the parts page, and the document."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from gateway import errors
from gateway.wire import attributes as wire

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
ATTRS = wire.Attributes(
    etag='"abc-3"',
    size=12,
    storage_class="STANDARD",
    checksums={"CRC32": "AAAAAA=="},
    checksum_type="COMPOSITE",
    parts=[5, 5, 2],
)


FIRST_PAGE = wire.PartsPage()


def _doc(names: str, page: wire.PartsPage = FIRST_PAGE) -> ET.Element:
    body = wire.render(ATTRS, wire.asked({"x-amz-object-attributes": names}), page)
    return ET.fromstring(body)


def test_asked_names() -> None:
    assert wire.asked({"x-amz-object-attributes": "ETag, ObjectSize"}) == {"ETag", "ObjectSize"}
    for bad in ({}, {"x-amz-object-attributes": " , "}, {"x-amz-object-attributes": "etag"}):
        with pytest.raises(errors.InvalidArgument):
            wire.asked(bad)


def test_parts_page_headers() -> None:
    assert wire.parts_page({}) == wire.PartsPage(1000, 0)
    got = wire.parts_page({"x-amz-max-parts": "5000", "x-amz-part-number-marker": "2"})
    assert got == wire.PartsPage(1000, 2)
    for bad in ("-1", "x", "1.5", "9999999999"):
        with pytest.raises(errors.InvalidArgument):
            wire.parts_page({"x-amz-max-parts": bad})


def test_everything_with_an_unquoted_etag() -> None:
    root = _doc("ETag,Checksum,ObjectParts,StorageClass,ObjectSize")
    assert root.tag == NS + "GetObjectAttributesResponse"
    assert root.findtext(NS + "ETag") == "abc-3"
    assert root.findtext(f"{NS}Checksum/{NS}ChecksumCRC32") == "AAAAAA=="
    assert root.findtext(f"{NS}Checksum/{NS}ChecksumType") == "COMPOSITE"
    assert root.findtext(f"{NS}ObjectParts/{NS}PartsCount") == "3"
    sizes = [p.findtext(NS + "Size") for p in root.iter(NS + "Part")]
    assert sizes == ["5", "5", "2"]
    assert root.findtext(NS + "ObjectSize") == "12"


def test_only_what_was_asked() -> None:
    root = _doc("ObjectSize")
    assert [child.tag for child in root] == [NS + "ObjectSize"]


@pytest.mark.parametrize(
    ("page", "numbers", "truncated", "next_marker"),
    [
        (wire.PartsPage(1, 0), ["1"], "true", "1"),
        (wire.PartsPage(2, 1), ["2", "3"], "false", None),
        (wire.PartsPage(10, 3), [], "false", None),
    ],
)
def test_parts_pages(
    page: wire.PartsPage, numbers: list[str], truncated: str, next_marker: str | None
) -> None:
    parts = _doc("ObjectParts", page).find(NS + "ObjectParts")
    assert parts is not None
    assert [p.findtext(NS + "PartNumber") for p in parts.iter(NS + "Part")] == numbers
    assert parts.findtext(NS + "IsTruncated") == truncated
    assert parts.findtext(NS + "NextPartNumberMarker") == next_marker


def test_part_rows_carry_their_checksums():
    attrs = wire.Attributes(
        etag='"abc-2"',
        size=7,
        storage_class="STANDARD",
        checksums={"SHA256": "whole-2"},
        checksum_type="COMPOSITE",
        parts=[5, 2],
        part_checksums=[{"SHA256": "p1"}, {"SHA256": "p2"}],
    )
    doc = ET.fromstring(wire.render(attrs, frozenset({"ObjectParts"}), wire.PartsPage(1, 1)))
    rows = doc.findall(f"{NS}ObjectParts/{NS}Part")
    assert [(r.findtext(NS + "PartNumber"), r.findtext(NS + "ChecksumSHA256")) for r in rows] == [
        ("2", "p2")
    ]
