"""Object lock at the record layer, over a real LMDB metadata store and block store: the
rules hold for any caller of meta.store (a `cairn admin` command, lifecycle, a future
tool), not only for the S3 handlers. No `cairn admin` command edits versions; should one
ever be added, it can only go through these methods, and these refuse.

- COMPLIANCE is never shortened, removed or turned into GOVERNANCE, bypass or not.
- A version under lock is never removed: not by delete_version (bypass or not, for
  COMPLIANCE and legal holds), not by lifecycle's ObjectService.expire_version.
- An overwrite of a locked null version in a suspended bucket is refused too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blockstore.cluster.replicated import ReplicatedBlocks
from blockstore.lmdb_store import LmdbBlockStore
from gateway.objects.service import ObjectService
from gateway.objects.types import ObjectAttrs, ObjectLock
from meta import lock
from meta.lmdb_kv import LmdbKV
from meta.records import ObjectHead, now_ms
from meta.store import MetaStore

BUCKET = "locked"
DAY = 86_400_000


@dataclass
class Env:
    kv: LmdbKV
    meta: MetaStore
    svc: ObjectService


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    kv = LmdbKV(tmp_path / "meta", map_size=1 << 28)
    meta = MetaStore(kv)
    store = LmdbBlockStore(tmp_path / "n0", map_size=1 << 28)
    svc = ObjectService(meta, ReplicatedBlocks({"n0": store}))
    await meta.create_bucket(BUCKET, "us-east-1", config=lock.new_bucket_config())
    yield Env(kv, meta, svc)
    await store.close()
    await kv.close()


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def put(env: Env, key: str, settings: ObjectLock | None = None) -> str:
    head = await env.svc.put_object(BUCKET, key, body(b"kept"), ObjectAttrs(lock=settings))
    return head.vid


def shorten(until_ms: int, mode: str = lock.COMPLIANCE):
    def change(head: ObjectHead) -> None:
        lock.set_retention(head, lock.Retention(mode, until_ms))

    return change


def remove(head: ObjectHead) -> None:
    lock.set_retention(head, None)


def wipe_extra(head: ObjectHead) -> None:
    head.extra.clear()


async def retention(env: Env, key: str, vid: str) -> lock.Retention | None:
    head, _, _ = await env.meta.get_version(BUCKET, key, vid)
    return lock.lock_of(head).retention


async def test_compliance_is_never_shortened_removed_or_weakened(env: Env) -> None:
    until = now_ms() + DAY
    vid = await put(env, "c", ObjectLock(lock.COMPLIANCE, until))
    refused = [
        shorten(until - 1000),
        shorten(until, lock.GOVERNANCE),
        shorten(until + DAY, lock.GOVERNANCE),
        remove,
        wipe_extra,  # a change that rewrites the record wholesale is checked as well
    ]
    for change in refused:
        for bypass in (False, True):
            with pytest.raises(lock.RetentionChangeRefused):
                await env.meta.update_object(BUCKET, "c", change, vid, bypass_governance=bypass)
    assert await retention(env, "c", vid) == lock.Retention(lock.COMPLIANCE, until)
    await env.meta.update_object(BUCKET, "c", shorten(until + DAY), vid)  # extending is fine
    assert await retention(env, "c", vid) == lock.Retention(lock.COMPLIANCE, until + DAY)


async def test_governance_gives_way_only_to_the_bypass(env: Env) -> None:
    until = now_ms() + DAY
    vid = await put(env, "g", ObjectLock(lock.GOVERNANCE, until))
    with pytest.raises(lock.RetentionChangeRefused):
        await env.meta.update_object(BUCKET, "g", shorten(until - 1, lock.GOVERNANCE), vid)
    with pytest.raises(lock.ObjectLocked):
        await env.meta.delete_version(BUCKET, "g", vid)
    await env.meta.update_object(BUCKET, "g", remove, vid, bypass_governance=True)
    assert await retention(env, "g", vid) is None


async def test_no_delete_path_removes_a_locked_version(env: Env) -> None:
    until = now_ms() + DAY
    c = await put(env, "c", ObjectLock(lock.COMPLIANCE, until))
    g = await put(env, "g", ObjectLock(lock.GOVERNANCE, until))
    h = await put(env, "h", ObjectLock(legal_hold=lock.ON))
    for key, vid in (("c", c), ("h", h)):
        for bypass in (False, True):
            with pytest.raises(lock.ObjectLocked):
                await env.meta.delete_version(BUCKET, key, vid, bypass_governance=bypass)
    for key, vid in (("c", c), ("g", g), ("h", h)):
        assert await env.svc.expire_version(BUCKET, key, vid) is False  # lifecycle's door
        # DELETE without a version id hides it behind a marker, which lock allows ...
        deleted = await env.svc.delete_object(BUCKET, key)
        assert deleted.marker
        # ... and the version is still there, whole.
        head = await env.svc.get_object(BUCKET, key, vid)
        assert b"".join([p async for p in env.svc.read(head)]) == b"kept"


async def test_lifecycle_expires_a_version_once_its_retention_has_passed(env: Env) -> None:
    vid = await put(env, "soon", ObjectLock(lock.COMPLIANCE, now_ms() + 300))
    assert await env.svc.expire_version(BUCKET, "soon", vid) is False
    await asyncio.sleep(0.4)
    assert await env.svc.expire_version(BUCKET, "soon", vid) is True
    page = await env.meta.list_versions(BUCKET, "soon", "", "", "", 10)
    assert [e.head.version_id for e in page.entries if e.head] == []


async def test_a_default_retention_is_applied_at_commit(env: Env) -> None:
    def rule(rec_config: dict) -> None:
        lock.enable(rec_config, lock.LockConfig(lock.DefaultRetention(lock.GOVERNANCE, days=2)))

    await env.meta.update_bucket(BUCKET, lambda rec: rule(rec.config))
    before = now_ms()
    vid = await put(env, "d")
    got = await retention(env, "d", vid)
    assert got is not None and got.mode == lock.GOVERNANCE
    assert before + 2 * DAY <= got.until_ms <= now_ms() + 2 * DAY


async def test_lock_settings_on_a_bucket_without_lock_are_refused(env: Env) -> None:
    await env.meta.create_bucket("plain", "us-east-1")
    with pytest.raises(lock.LockNotEnabled):
        await env.svc.put_object(
            "plain", "k", body(b"x"), ObjectAttrs(lock=ObjectLock(None, None, "ON"))
        )
    with pytest.raises(lock.LockNotEnabled):
        await env.svc.locks.set_legal_hold("plain", "k", None, lock.ON)


async def test_versioning_of_a_locked_bucket_stays_enabled(env: Env) -> None:
    with pytest.raises(lock.LockedVersioning):
        await env.svc.buckets.set_versioning(BUCKET, "Suspended")
    assert await env.svc.buckets.versioning(BUCKET) == "Enabled"


async def test_an_overwrite_never_drops_a_locked_null_version(env: Env) -> None:
    """A bucket whose versioning is Suspended replaces its null version on a write: a
    locked one (lock turned on while it was Enabled, its records edited by hand) stays."""
    await env.meta.create_bucket("susp", "us-east-1", config={"versioning": "Suspended"})
    await env.svc.put_object("susp", "k", body(b"first"))

    def hold(head: ObjectHead) -> None:
        lock.set_legal_hold(head, lock.ON)

    await env.meta.update_object("susp", "k", hold)
    with pytest.raises(lock.ObjectLocked):
        await env.svc.put_object("susp", "k", body(b"second"))
    with pytest.raises(lock.ObjectLocked):
        await env.svc.delete_object("susp", "k")
    head = await env.svc.get_object("susp", "k")
    assert b"".join([p async for p in env.svc.read(head)]) == b"first"
