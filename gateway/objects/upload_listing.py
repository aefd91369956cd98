"""ListMultipartUploads paging: S3's key and upload-id markers over a bucket's uploads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class _Listed(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def upload_id(self) -> str: ...


U = TypeVar("U", bound=_Listed)


def page_uploads(
    listed: Sequence[U],
    prefix: str,
    delimiter: str,
    key_marker: str,
    id_marker: str,
    max_uploads: int,
) -> tuple[list[U], list[str], bool]:
    """(uploads, common prefixes, truncated) of one page of ``listed`` (sorted by key,
    then initiation).

    Uploads of one key are ordered by initiation, not by id: the id marker is a position,
    so the page starts after the marker's upload wherever it stands among its key's."""
    uploads: list[U] = []
    prefixes: list[str] = []
    after_marker = [
        i for i, u in enumerate(listed) if u.key == key_marker and u.upload_id == id_marker
    ]
    skip_through = max(after_marker) if after_marker else -1
    for i, u in enumerate(listed):
        if not u.key.startswith(prefix):
            continue
        if key_marker and (
            u.key < key_marker or (u.key == key_marker and (not id_marker or i <= skip_through))
        ):
            continue
        if delimiter:
            cut = u.key.find(delimiter, len(prefix))
            if cut >= 0:
                cp = u.key[: cut + len(delimiter)]
                if (prefixes and prefixes[-1] == cp) or (key_marker and cp <= key_marker):
                    continue
                if len(uploads) + len(prefixes) >= max_uploads:
                    return uploads, prefixes, True
                prefixes.append(cp)
                continue
        if len(uploads) + len(prefixes) >= max_uploads:
            return uploads, prefixes, True
        uploads.append(u)
    return uploads, prefixes, False
