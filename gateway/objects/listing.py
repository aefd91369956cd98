"""Object listings: one page from the ordered index, with the marker each API pages by.

ListObjects (v1) and ListObjectsV2 read the same page and differ only in where they say
the next page starts. ListObjectVersions reads the history index (ObjectService.versions).
"""

from __future__ import annotations

from typing import cast

from gateway.objects.types import ListedEntry, ObjectPage
from meta.store import MetaStore


class Listing:
    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    async def page(
        self, bucket: str, prefix: str, delimiter: str, after: str | None, max_keys: int
    ) -> tuple[list[ListedEntry], bool]:
        """Entries after ``after`` (exclusive) and whether more follow. max-keys=0 still
        checks that the bucket exists, as S3 does, and returns nothing."""
        entries, truncated = await self.meta.list_objects(
            bucket, prefix, delimiter, after, max_keys
        )
        if max_keys == 0:
            return [], False
        return cast(list[ListedEntry], entries), truncated

    async def objects_v1(
        self, bucket: str, prefix: str, delimiter: str, marker: str, max_keys: int
    ) -> ObjectPage:
        """V1 names a NextMarker only with a delimiter: without one a client pages by the
        last key it got."""
        entries, truncated = await self.page(bucket, prefix, delimiter, marker or None, max_keys)
        last = entries[-1].key if truncated and delimiter and entries else None
        return ObjectPage(entries, truncated, last)

    async def objects_v2(
        self, bucket: str, prefix: str, delimiter: str, after: str | None, max_keys: int
    ) -> ObjectPage:
        """``next_marker`` is the key the continuation token will carry."""
        entries, truncated = await self.page(bucket, prefix, delimiter, after or None, max_keys)
        last = entries[-1].key if truncated and entries else None
        return ObjectPage(entries, truncated, last)
