"""Wire format of DeleteObjects: the <Delete> request and the <DeleteResult>."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.errors import MalformedXML
from gateway.wire.xml import as_list, document, el, opt, parse


def parse_delete(body: bytes) -> tuple[bool, list[tuple[str, str | None]]]:
    doc = parse(body, "Delete", keep_whitespace=True)  # a key may be all blanks
    quiet = str(doc.get("Quiet", "false")).strip().lower() == "true"
    objects: list[tuple[str, str | None]] = []
    for obj in as_list(doc.get("Object")):
        if not isinstance(obj, dict) or not isinstance(obj.get("Key"), str):
            raise MalformedXML()
        vid = obj.get("VersionId")
        objects.append((obj["Key"], vid if isinstance(vid, str) else None))
    if not objects:
        raise MalformedXML()
    return quiet, objects


class Deleted(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def version_id(self) -> str | None: ...
    @property
    def marker(self) -> bool: ...
    @property
    def marker_version_id(self) -> str | None: ...


Failure = tuple[str, str | None, str, str]
"""A key that was not deleted: key, the VersionId the request named (if any), code, message."""


def delete_result(deleted: Sequence[Deleted], errors: list[Failure], quiet: bool) -> bytes:
    """Each key's VersionId as the request named it, and the delete marker made or
    removed (DeleteMarker, DeleteMarkerVersionId), as S3 reports them; a failed key
    with its VersionId too (a version under object lock, for one)."""
    parts: list[str] = []
    if not quiet:
        for d in deleted:
            parts.append(
                "<Deleted>"
                + el("Key", d.key)
                + opt("VersionId", d.version_id)
                + (el("DeleteMarker", "true") if d.marker else "")
                + opt("DeleteMarkerVersionId", d.marker_version_id)
                + "</Deleted>"
            )
    for key, version_id, code, message in errors:
        parts.append(
            "<Error>"
            + el("Key", key)
            + opt("VersionId", version_id)
            + el("Code", code)
            + el("Message", message)
            + "</Error>"
        )
    return document("DeleteResult", parts)
