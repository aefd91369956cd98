"""Wire format of multipart uploads: the Complete request and every result document."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.errors import InvalidArgument, MalformedXML
from gateway.wire.headers import iso_date, quote_etag
from gateway.wire.xml import as_list, bool_text, document, el, opt, parse


class Upload(Protocol):
    @property
    def upload_id(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def initiated_ms(self) -> int: ...
    @property
    def checksum_algorithm(self) -> str | None: ...
    @property
    def checksum_type(self) -> str | None: ...
    @property
    def owner(self) -> str: ...


class Part(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def etag(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime_ms(self) -> int: ...
    @property
    def checksums(self) -> dict[str, str]: ...


CHECKSUM_FIELDS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


@dataclass
class CompletedPart:
    number: int
    etag: str
    checksums: dict[str, str] = field(default_factory=dict)


def parse_complete(body: bytes) -> list[CompletedPart]:
    doc = parse(body, "CompleteMultipartUpload")
    parts: list[CompletedPart] = []
    for p in as_list(doc.get("Part")):
        if not isinstance(p, dict):
            raise MalformedXML()
        number, etag = p.get("PartNumber"), p.get("ETag")
        if not isinstance(number, str) or not isinstance(etag, str):
            raise MalformedXML()
        if not (number.strip().isascii() and number.strip().isdigit()):  # not "²", "١"
            raise MalformedXML()
        sums = {
            alg: p["Checksum" + alg]
            for alg in CHECKSUM_FIELDS
            if isinstance(p.get("Checksum" + alg), str)
        }
        parts.append(CompletedPart(int(number), etag.strip().strip('"'), sums))
    if not parts:
        raise MalformedXML()
    return parts


def _owner(owner: tuple[str, str]) -> str:
    return el("ID", owner[0]) + el("DisplayName", owner[1])


def _checksums(sums: dict[str, str]) -> str:
    return "".join(el("Checksum" + alg, v) for alg, v in sums.items())


def initiate_result(upload: Upload) -> bytes:
    return document(
        "InitiateMultipartUploadResult",
        [el("Bucket", upload.bucket), el("Key", upload.key), el("UploadId", upload.upload_id)],
    )


def complete_result(
    location: str, bucket: str, key: str, etag: str, sums: dict[str, str], checksum_type: str | None
) -> bytes:
    return document(
        "CompleteMultipartUploadResult",
        [
            el("Location", location),
            el("Bucket", bucket),
            el("Key", key),
            el("ETag", quote_etag(etag)),
            _checksums(sums),
            opt("ChecksumType", checksum_type if sums else None),
        ],
    )


def copy_part_result(etag: str, mtime_ms: int, sums: dict[str, str]) -> bytes:
    return document(
        "CopyPartResult",
        [el("LastModified", iso_date(mtime_ms)), el("ETag", quote_etag(etag)), _checksums(sums)],
    )


def list_parts_result(
    upload: Upload,
    parts: Sequence[Part],
    marker: int,
    max_parts: int,
    truncated: bool,
    owner: tuple[str, str],
) -> bytes:
    items = "".join(
        "<Part>"
        + el("PartNumber", p.number)
        + el("LastModified", iso_date(p.mtime_ms))
        + el("ETag", quote_etag(p.etag))
        + el("Size", p.size)
        + _checksums(p.checksums)
        + "</Part>"
        for p in parts
    )
    return document(
        "ListPartsResult",
        [
            el("Bucket", upload.bucket),
            el("Key", upload.key),
            el("UploadId", upload.upload_id),
            el("PartNumberMarker", marker),
            opt("NextPartNumberMarker", parts[-1].number if parts else None),
            el("MaxParts", max_parts),
            el("IsTruncated", bool_text(truncated)),
            "<Initiator>" + _owner(owner) + "</Initiator>",
            "<Owner>" + _owner(owner) + "</Owner>",
            el("StorageClass", "STANDARD"),
            opt("ChecksumAlgorithm", upload.checksum_algorithm),
            opt("ChecksumType", upload.checksum_type),
            items,
        ],
    )


def list_uploads_result(
    bucket: str,
    uploads: Sequence[Upload],
    prefixes: list[str],
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    max_uploads: int,
    truncated: bool,
    owner_of: Callable[[str], tuple[str, str]],
) -> bytes:
    children = [
        el("Bucket", bucket),
        el("KeyMarker", key_marker),
        el("UploadIdMarker", upload_id_marker),
    ]
    if truncated and (uploads or prefixes):
        last_upload = uploads[-1] if uploads else None
        last_prefix = prefixes[-1] if prefixes else None
        if last_upload is not None and (last_prefix is None or last_upload.key > last_prefix):
            children += [
                el("NextKeyMarker", last_upload.key),
                el("NextUploadIdMarker", last_upload.upload_id),
            ]
        else:
            children += [el("NextKeyMarker", last_prefix), el("NextUploadIdMarker", "")]
    children += [
        el("Prefix", prefix),
        opt("Delimiter", delimiter or None),
        el("MaxUploads", max_uploads),
        el("IsTruncated", bool_text(truncated)),
    ]
    for u in uploads:
        owner = owner_of(u.owner)
        children.append(
            "<Upload>"
            + el("Key", u.key)
            + el("UploadId", u.upload_id)
            + "<Initiator>"
            + _owner(owner)
            + "</Initiator><Owner>"
            + _owner(owner)
            + "</Owner>"
            + el("StorageClass", "STANDARD")
            + el("Initiated", iso_date(u.initiated_ms))
            + opt("ChecksumAlgorithm", u.checksum_algorithm)
            + "</Upload>"
        )
    for p in prefixes:
        children.append("<CommonPrefixes>" + el("Prefix", p) + "</CommonPrefixes>")
    return document("ListMultipartUploadsResult", children)


def int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument(
            f"Provided {name} not an integer or within integer range",
            ArgumentName=name,
            ArgumentValue=raw,
        ) from None
    if value < low:
        raise InvalidArgument(
            f"Argument {name} must be an integer between {low} and 2147483647",
            ArgumentName=name,
            ArgumentValue=raw,
        )
    return min(value, high)
