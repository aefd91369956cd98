"""Wire format of DeleteObjects: the <Delete> request and the <DeleteResult>."""

from __future__ import annotations

from gateway.errors import MalformedXML
from gateway.wire.xml import as_list, document, el, parse


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


def delete_result(
    deleted: list[tuple[str, str | None]], errors: list[tuple[str, str, str]], quiet: bool
) -> bytes:
    parts: list[str] = []
    if not quiet:
        for key, vid in deleted:
            parts.append(
                "<Deleted>" + el("Key", key) + (el("VersionId", vid) if vid else "") + "</Deleted>"
            )
    for key, code, message in errors:
        parts.append(
            "<Error>" + el("Key", key) + el("Code", code) + el("Message", message) + "</Error>"
        )
    return document("DeleteResult", parts)
