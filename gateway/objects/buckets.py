"""Buckets: create, look up, delete and list them."""

from __future__ import annotations

from gateway.objects.types import BucketInfo
from meta.store import BucketNotFound, MetaStore


class Buckets:
    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    async def create(self, name: str, region: str) -> None:
        await self.meta.create_bucket(name, region)

    async def region(self, name: str) -> str:
        """The bucket's region; BucketNotFound (NoSuchBucket) when there is no such bucket,
        which is also how HeadBucket and GetBucketVersioning learn that it exists."""
        rec = await self.meta.get_bucket(name)
        if rec is None:
            raise BucketNotFound(name)
        return rec.region

    async def delete(self, name: str) -> None:
        await self.meta.delete_bucket(name)

    async def list(self) -> list[BucketInfo]:
        return [BucketInfo(b.name, b.created_ms, b.region) for b in await self.meta.list_buckets()]
