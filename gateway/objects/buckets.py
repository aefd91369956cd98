"""Buckets: create, look up, delete and list them."""

from __future__ import annotations

import contextlib

from gateway.objects.types import BucketInfo, BucketsPage
from meta.errors import BucketExists, BucketNotEmpty, BucketNotFound, UploadNotFound
from meta.store import MetaStore
from meta.uploads import Uploads


class Buckets:
    def __init__(self, meta: MetaStore, uploads: Uploads) -> None:
        self.meta = meta
        self.uploads = uploads

    async def create(self, name: str, region: str) -> bool:
        """Create the bucket; False when it exists already (the caller decides whether
        that is an error: us-east-1 answers 200 to its owner, other regions 409)."""
        try:
            await self.meta.create_bucket(name, region)
        except BucketExists:
            return False
        return True

    async def region(self, name: str) -> str:
        """The bucket's region; BucketNotFound (NoSuchBucket) when there is no such bucket,
        which is also how HeadBucket and GetBucketVersioning learn that it exists."""
        rec = await self.meta.get_bucket(name)
        if rec is None:
            raise BucketNotFound(name)
        return rec.region

    async def delete(self, name: str) -> None:
        """Delete an empty bucket. Open multipart uploads do not keep it alive: S3 deletes
        a bucket that has no objects and aborts its uploads, so they are aborted here
        once the bucket is known to hold no object, and the delete is tried again."""
        try:
            await self.meta.delete_bucket(name)
            return
        except BucketNotEmpty:
            if (await self.meta.list_objects(name, limit=1))[0]:
                raise
        for upload in await self.uploads.list(name):
            with contextlib.suppress(UploadNotFound):  # completed or aborted meanwhile
                await self.uploads.abort(name, upload.key, upload.upload_id)
        await self.meta.delete_bucket(name)

    async def list(
        self,
        *,
        prefix: str = "",
        after: str = "",
        limit: int | None = None,
        region: str | None = None,
    ) -> BucketsPage:
        """Buckets in name order: names starting with ``prefix``, after ``after``, in
        ``region`` if given; ``limit`` per page (all of them when None)."""
        want = 100_000 if limit is None else limit + 1
        recs = await self.meta.list_buckets(prefix=prefix, after=after, limit=want)
        infos = [BucketInfo(b.name, b.created_ms, b.region) for b in recs]
        if region is not None:
            infos = [b for b in infos if b.region == region]
        if limit is not None and len(infos) > limit:
            return BucketsPage(infos[:limit], truncated=True)
        return BucketsPage(infos, truncated=False)
