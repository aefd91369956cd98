"""Object lock in the object service: a bucket's lock configuration, a version's retention
and legal hold, and the lock settings a new version is written with.

The rules themselves (what may be removed, which retention change is allowed) live in
meta.lock and are enforced inside the record layer's transactions, so no path around
this module can get past them; here they are only turned into and out of the service's
own types.
"""

from __future__ import annotations

from typing import cast

from gateway.objects.types import BucketLock, Bypass, LockRule, ObjectLock, StoredObject
from meta import lock
from meta.errors import BucketNotFound
from meta.records import BucketRecord, ObjectHead
from meta.store import MetaStore

NO_LOCK = ObjectLock()


class Locks:
    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    # ------------------------------------------------------------------ buckets

    async def configuration(self, bucket: str) -> BucketLock | None:
        """The bucket's lock configuration; None when lock is off (NoSuchBucket when
        there is no bucket)."""
        found = lock.bucket_lock((await self._record(bucket)).config)
        if found is None:
            return None
        rule = found.rule
        return BucketLock(LockRule(rule.mode, rule.days, rule.years) if rule else None)

    async def configure(self, bucket: str, rule: LockRule | None) -> None:
        """Turn lock on, or replace its default retention (None: none). Lock can be turned
        on for a bucket created without it only while its versioning is Enabled, as AWS
        allows; it is never turned off."""
        new = lock.LockConfig(
            lock.DefaultRetention(rule.mode, rule.days, rule.years) if rule else None
        )

        def apply(rec: BucketRecord) -> None:
            lock.enable(rec.config, new)

        await self.meta.update_bucket(bucket, apply)

    async def require(self, bucket: str) -> None:
        """Refuse (LockNotEnabled) lock settings for a bucket without object lock: checked
        before a write reads its body; the commit checks it again (meta.lock.apply_default)."""
        if lock.bucket_lock((await self._record(bucket)).config) is None:
            raise lock.LockNotEnabled(bucket)

    async def _record(self, bucket: str) -> BucketRecord:
        rec = await self.meta.bucket_record(bucket)
        if rec is None:
            raise BucketNotFound(bucket)
        return rec

    # ----------------------------------------------------------------- versions

    async def version_lock(self, bucket: str, key: str, version_id: str | None) -> ObjectLock:
        """The retention and legal hold of the current (or named) version."""
        await self.require(bucket)
        head, _, _ = await self.meta.get_version(bucket, key, version_id)
        return self.of(head)

    @staticmethod
    def of(obj: StoredObject) -> ObjectLock:
        """A version's lock, as HEAD and GET show it (no read: it is in the record)."""
        head = cast(ObjectHead, obj)
        if not head.extra:
            return NO_LOCK  # most versions: nothing to decode
        found = lock.lock_of(head)
        r = found.retention
        return ObjectLock(r.mode if r else None, r.until_ms if r else None, found.legal_hold)

    async def set_retention(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        retention: ObjectLock,
        bypass: Bypass | None = None,
    ) -> StoredObject:
        """Set (or, with no mode, remove) a version's retention. A change that a retention
        in force does not allow is refused (RetentionChangeRefused) unless it is
        GOVERNANCE and ``bypass`` says the caller may bypass it."""
        await self.require(bucket)
        new = (
            lock.Retention(retention.mode, retention.until_ms)
            if retention.mode is not None and retention.until_ms is not None
            else None
        )

        def change(head: ObjectHead) -> None:
            lock.set_retention(head, new)

        try:
            return await self.meta.update_object(bucket, key, change, version_id)
        except lock.RetentionChangeRefused:
            if bypass is None or not await bypass(key, version_id):
                raise
        return await self.meta.update_object(
            bucket, key, change, version_id, bypass_governance=True
        )

    async def set_legal_hold(
        self, bucket: str, key: str, version_id: str | None, status: str
    ) -> StoredObject:
        await self.require(bucket)

        def change(head: ObjectHead) -> None:
            lock.set_legal_hold(head, status)

        return await self.meta.update_object(bucket, key, change, version_id)


def apply(head: ObjectHead, settings: ObjectLock | None) -> None:
    """A new version's own lock settings (from its request), before it is committed."""
    if settings is None:
        return
    if settings.mode is not None and settings.until_ms is not None:
        lock.set_retention(head, lock.Retention(settings.mode, settings.until_ms))
    if settings.legal_hold is not None:
        lock.set_legal_hold(head, settings.legal_hold)


def as_record(settings: ObjectLock | None) -> dict[str, object]:
    """The lock settings as a multipart upload keeps them until Complete."""
    head = ObjectHead("")
    apply(head, settings)
    return dict(head.extra)
