"""Wire format of copies: CopyObjectResult (and CopyPartResult for UploadPartCopy)."""

from __future__ import annotations

from typing import Protocol

from gateway.wire.headers import iso_date, quote_etag
from gateway.wire.xml import document, el


class Copied(Protocol):
    @property
    def etag(self) -> str: ...
    @property
    def mtime_ms(self) -> int: ...
    @property
    def checksums(self) -> dict[str, str]: ...


def copy_object_result(head: Copied) -> bytes:
    checksums = "".join(el("Checksum" + alg, v) for alg, v in head.checksums.items())
    return document(
        "CopyObjectResult",
        [el("LastModified", iso_date(head.mtime_ms)), el("ETag", quote_etag(head.etag)), checksums],
    )
