"""Wire format of copies: CopyObjectResult (and CopyPartResult for UploadPartCopy)."""

from __future__ import annotations

from gateway.wire.headers import iso_date, quote_etag
from gateway.wire.xml import document, el
from meta.records import ObjectHead


def copy_object_result(head: ObjectHead) -> bytes:
    checksums = "".join(el("Checksum" + alg, v) for alg, v in head.checksums.items())
    return document(
        "CopyObjectResult",
        [el("LastModified", iso_date(head.mtime_ms)), el("ETag", quote_etag(head.etag)), checksums],
    )
