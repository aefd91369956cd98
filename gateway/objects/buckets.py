"""Buckets: create, look up, delete and list them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from gateway.objects.types import BucketConfig, BucketInfo, BucketsPage
from meta import lock
from meta.errors import BucketExists, BucketNotEmpty, BucketNotFound, UploadNotFound
from meta.records import BucketRecord
from meta.store import MetaStore
from meta.uploads import Uploads

_CONFIG_FIELDS = ("acl", "policy", "ownership", "pab")


class Buckets:
    def __init__(self, meta: MetaStore, uploads: Uploads) -> None:
        self.meta = meta
        self.uploads = uploads
        self._configs: dict[str, tuple[BucketRecord, BucketConfig]] = {}

    async def create(
        self,
        name: str,
        region: str,
        owner: str = "",
        config: BucketConfig | None = None,
        *,
        object_lock: bool = False,
    ) -> BucketConfig | None:
        """Create the bucket; None when created, else the configuration of the bucket that
        exists already (the caller decides whether that is an error: us-east-1 answers
        200 to its owner, other regions 409, another owner BucketAlreadyExists).
        ``object_lock``: created with object lock, which enables versioning with it."""
        stored = _stored(config)
        if object_lock:
            stored.update(lock.new_bucket_config())
        try:
            await self.meta.create_bucket(name, region, owner, stored)
        except BucketExists:
            rec = await self.meta.get_bucket(name)
            return _config(rec) if rec is not None else BucketConfig(name, owner)
        return None

    async def config(self, name: str) -> BucketConfig | None:
        """The bucket's owner and access configuration, read afresh; None: no such bucket.
        An unchanged record gives the same (read-only) BucketConfig object as last time,
        so that callers may keep what they derived from it."""
        rec = await self.meta.bucket_record(name)
        if rec is None:
            return None
        hit = self._configs.get(name)
        if hit is not None and hit[0] is rec:
            return hit[1]
        cfg = _config(rec)
        if len(self._configs) > 10_000:
            self._configs.clear()
        self._configs[name] = (rec, cfg)
        return cfg

    async def configure(self, name: str, change: Callable[[BucketConfig], None]) -> BucketConfig:
        """Change a bucket's access configuration in one compare-and-swap; ``change`` may
        raise, and then nothing changes."""
        out: list[BucketConfig] = []

        def apply(rec: BucketRecord) -> None:
            cfg = _config(rec)
            change(cfg)
            kept = {k: v for k, v in rec.config.items() if k not in _CONFIG_FIELDS}
            rec.config = {**kept, **_stored(cfg)}  # versioning etc. are not access settings
            out[:] = [cfg]

        await self.meta.update_bucket(name, apply)
        return out[0]

    async def versioning(self, name: str) -> str | None:
        """None (never enabled), "Enabled" or "Suspended"; NoSuchBucket when none."""
        rec = await self.meta.get_bucket(name)
        if rec is None:
            raise BucketNotFound(name)
        state = rec.config.get("versioning")
        return state if isinstance(state, str) else None

    async def set_versioning(self, name: str, status: str) -> None:
        """Enable or suspend versioning. Every write compares the bucket record, so each
        commits entirely under the old state or entirely under the new one."""

        def apply(rec: BucketRecord) -> None:
            lock.check_versioning(rec.config, status)  # lock keeps it Enabled
            rec.config["versioning"] = status

        await self.meta.update_bucket(name, apply)

    async def tags(self, name: str) -> dict[str, str] | None:
        """The bucket's tags; None when it has no tag set (NoSuchBucket when no bucket)."""
        rec = await self.meta.get_bucket(name)
        if rec is None:
            raise BucketNotFound(name)
        tags = rec.config.get("tags")
        return dict(tags) if isinstance(tags, dict) else None

    async def set_tags(self, name: str, tags: dict[str, str] | None) -> None:
        """Replace the bucket's tag set (None removes it), in the bucket record's one
        compare-and-swap like every other bucket setting."""

        def apply(rec: BucketRecord) -> None:
            if tags is None:
                rec.config.pop("tags", None)
            else:
                rec.config["tags"] = dict(tags)

        await self.meta.update_bucket(name, apply)

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
            if (await self.meta.list_objects(name, limit=1))[0] or await self.meta.has_versions(
                name
            ):
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
        keep: Callable[[BucketInfo], bool] | None = None,
    ) -> BucketsPage:
        """Buckets in name order: names starting with ``prefix``, after ``after``, in
        ``region`` if given, that ``keep`` keeps (the caller's own); ``limit`` per page
        (all of them when None)."""
        want = 100_000 if limit is None or keep is not None else limit + 1
        recs = await self.meta.list_buckets(prefix=prefix, after=after, limit=want)
        infos = [BucketInfo(b.name, b.created_ms, b.region, b.owner) for b in recs]
        if keep is not None:
            infos = [b for b in infos if keep(b)]
        if region is not None:
            infos = [b for b in infos if b.region == region]
        if limit is not None and len(infos) > limit:
            return BucketsPage(infos[:limit], truncated=True)
        return BucketsPage(infos, truncated=False)


def _config(rec: BucketRecord) -> BucketConfig:
    c = rec.config
    return BucketConfig(rec.name, rec.owner, *(c.get(f) for f in _CONFIG_FIELDS))


def _stored(cfg: BucketConfig | None) -> dict[str, Any]:
    if cfg is None:
        return {}
    return {f: getattr(cfg, f) for f in _CONFIG_FIELDS if getattr(cfg, f) is not None}


# --------------------------------------------------------------------------- CORS
# The bucket's CORS rules live in its record's config under "cors" (a list of the wire's
# rule dicts), beside versioning: not an access setting, so ``configure`` keeps it.


async def cors_rules(buckets: Buckets, name: str) -> list[dict[str, Any]] | None:
    """The bucket's CORS rules as stored; None: none set, or no such bucket (a preflight
    to a missing bucket is refused as one to a bucket without CORS)."""
    rec = await buckets.meta.bucket_record(name)
    if rec is None:
        return None
    rules = rec.config.get("cors")
    return rules if isinstance(rules, list) else None


async def set_config(buckets: Buckets, name: str, entry: str, value: Any | None) -> None:
    """Replace one entry of the bucket's config (CORS rules, default encryption, lifecycle
    rules) in one compare-and-swap of its record; None deletes the entry."""

    def apply(rec: BucketRecord) -> None:
        if value is None:
            rec.config.pop(entry, None)
        else:
            rec.config[entry] = value

    await buckets.meta.update_bucket(name, apply)


async def set_cors_rules(buckets: Buckets, name: str, rules: list[dict[str, Any]] | None) -> None:
    """Replace the bucket's CORS rules (None: delete them)."""
    await set_config(buckets, name, "cors", rules)


# --------------------------------------------------------------- default encryption
# The bucket's default encryption (PutBucketEncryption) lives in its record's config under
# "sse" ({"m": mode, "kms": key id, "bk": bucket key}), beside CORS: not an access setting.


async def default_encryption(buckets: Buckets, name: str) -> dict[str, Any] | None:
    """The bucket's default encryption as stored; None: none set, or no such bucket."""
    rec = await buckets.meta.bucket_record(name)
    if rec is None:
        return None
    found = rec.config.get("sse")
    return found if isinstance(found, dict) else None


async def set_default_encryption(
    buckets: Buckets, name: str, default: dict[str, Any] | None
) -> None:
    """Replace the bucket's default encryption (None: delete it)."""
    await set_config(buckets, name, "sse", default)
