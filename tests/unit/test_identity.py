"""Users and keys (meta/users.py, meta/access.py) and what a gateway makes of them
(gateway/keyring.py), on a real LMDB metadata store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.keyring import Identity, KeyRing
from meta.access import BOOTSTRAP_USER_ID, AccessError, AccessKey, AccessKeys, grants_for
from meta.api import Txn
from meta.keys import access_key_key, bucket_key
from meta.lmdb_kv import LmdbKV
from meta.records import BucketRecord, pack_record, unpack_record
from meta.sealing import MasterKey, ensure_master_key, load_master_key, rotate_master_key_file
from meta.store import MetaStore
from meta.users import Users

ALL = frozenset({"read", "write", "owner"})


@pytest.fixture
async def kv(tmp_path: Path) -> AsyncIterator[LmdbKV]:
    store = LmdbKV(tmp_path / "meta")
    yield store
    await store.close()


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


def _users(kv: LmdbKV, master: MasterKey | None) -> Users:
    return Users(kv, AccessKeys(kv, master))


async def test_created_key_is_sealed_and_opens_in_the_key_ring(
    kv: LmdbKV, master: MasterKey
) -> None:
    users = _users(kv, master)
    alice = await users.create("alice", "alice@example.com")
    key, secret = await users.create_key(alice, grants_for(["photos"], ["read"]))
    raw = await kv.get(access_key_key(key.access_key))
    assert raw is not None and secret.encode() not in raw  # never stored in the clear
    assert json.loads(raw)["secret"]["kid"] == master.key_id

    ring = KeyRing({"BOOTKEY": "boot-secret"}, AccessKeys(kv, master))
    await ring.start()
    assert ring.secret_for(key.access_key) == secret
    ident = ring.identity(key.access_key)
    assert ident == Identity(
        alice.user_id, "alice", key.access_key, "alice@example.com", ident.buckets
    )
    assert ident.rights("photos") == {"read"}
    assert ident.rights("other") == frozenset()
    assert len(alice.user_id) == 64 and int(alice.user_id, 16) >= 0
    assert ring.user(alice.user_id) == (alice.user_id, "alice")
    assert ring.user_by_email("Alice@Example.com") == (alice.user_id, "alice")
    assert ring.user("no-such-id") is None and ring.user_by_email("x@y.z") is None


async def test_bootstrap_key_is_the_bootstrap_users_admin_key(
    kv: LmdbKV, master: MasterKey
) -> None:
    ring = KeyRing({"BOOTKEY": "boot-secret"}, AccessKeys(kv, master))
    await ring.start()
    boot = ring.identity("BOOTKEY")
    assert boot is not None and boot.user_id == BOOTSTRAP_USER_ID == "cairn"
    assert boot.rights("any-bucket") == ALL and boot.unrestricted
    assert ring.secret_for("BOOTKEY") == "boot-secret"
    # Recorded for admins: the user, and the key's id without any secret.
    listed = {u.display_name: u for u in await _users(kv, None).list()}
    assert listed["cairn"].bootstrap and listed["cairn"].user_id == "cairn"
    raw = await kv.get(access_key_key("BOOTKEY"))
    assert raw is not None and b"boot-secret" not in raw
    assert json.loads(raw)["secret"] is None
    # The stored record cannot take the environment's key over.
    await ring.refresh()
    assert ring.secret_for("BOOTKEY") == "boot-secret"


async def test_old_plain_text_records_load_and_get_sealed(kv: LmdbKV, master: MasterKey) -> None:
    """Records of the single-owner days: the bootstrap user's, full rights on their buckets."""
    old_all = {"access_key": "OLDALL", "secret": "old-secret-1", "buckets": ["*"], "created_ms": 1}
    old_one = {"access_key": "OLDONE", "secret": "old-secret-2", "buckets": ["b1", "b2"]}
    for rec in (old_all, old_one):
        k = access_key_key(rec["access_key"])
        await kv.commit(Txn().put(k, json.dumps(rec).encode()))
    ring = KeyRing({}, AccessKeys(kv, master))
    await ring.start()  # seals them in place
    assert ring.secret_for("OLDALL") == "old-secret-1"
    assert ring.identity("OLDALL").rights("x") == ALL  # type: ignore[union-attr]
    one = ring.identity("OLDONE")
    assert one is not None and one.user_id == BOOTSTRAP_USER_ID
    assert one.rights("b1") == one.rights("b2") == ALL and one.rights("b3") == frozenset()
    for name in ("OLDALL", "OLDONE"):
        raw = await kv.get(access_key_key(name))
        assert raw is not None and b"old-secret" not in raw
    assert ring.secret_for("OLDONE") == "old-secret-2"  # still opens after sealing


async def test_allow_and_deny_narrow_and_widen(kv: LmdbKV, master: MasterKey) -> None:
    users = _users(kv, master)
    bob = await users.create("bob")
    key, _ = await users.create_key(bob, grants_for(["b1"], ["read"]))
    keys = users.keys
    k = await keys.allow(key.access_key, "b1", ["write"])
    assert k.rights("b1") == {"read", "write"}
    k = await keys.allow(key.access_key, "b2", None)  # no rights named: all three
    assert k.rights("b2") == ALL
    k = await keys.deny(key.access_key, "b1", ["read"])
    assert k.rights("b1") == {"write"}
    k = await keys.deny(key.access_key, "b2", None)
    assert "b2" not in k.buckets and k.rights("b2") == frozenset()
    # An every-bucket key denied one bucket keeps the rest.
    wide, _ = await users.create_key(bob)
    k = await keys.deny(wide.access_key, "secret-bucket", ["write", "owner"])
    assert k.rights("secret-bucket") == {"read"} and k.rights("elsewhere") == ALL
    k = await keys.deny(wide.access_key, "secret-bucket", None)
    assert k.rights("secret-bucket") == frozenset() and k.rights("elsewhere") == ALL
    with pytest.raises(AccessError, match="unknown right"):
        await keys.allow(key.access_key, "b1", ["admin"])
    for bad in ("", "a/b", "a b", "x*"):
        with pytest.raises(AccessError, match="invalid bucket name"):
            await keys.allow(key.access_key, bad, None)
        with pytest.raises(AccessError, match="invalid bucket name"):
            grants_for([bad], None)
    with pytest.raises(AccessError, match="no such key"):
        await keys.deny("NOPE", "b1", None)


async def test_rotate_changes_the_secret_and_the_ring_follows(
    kv: LmdbKV, master: MasterKey
) -> None:
    users = _users(kv, master)
    carol = await users.create("carol")
    key, old = await users.create_key(carol)
    ring = KeyRing({}, AccessKeys(kv, master))
    await ring.start()
    assert ring.secret_for(key.access_key) == old
    _, new = await users.keys.rotate(key.access_key)
    assert new != old
    await ring.refresh()
    assert ring.secret_for(key.access_key) == new


async def test_a_key_rotated_just_after_a_look_works_at_once(kv: LmdbKV, master: MasterKey) -> None:
    """The ring looks again at most every 0.2 s; a signature with a secret rotated inside
    that window waits for the next look instead of being refused (it was, until the next
    periodic refresh: a flaky identity test under load found it)."""
    users = _users(kv, master)
    cleo = await users.create("cleo")
    key, _ = await users.create_key(cleo)
    ring = KeyRing({}, AccessKeys(kv, master))
    await ring.start()  # a look, just now
    _, new = await users.keys.rotate(key.access_key)
    assert await ring.refresh_for(key.access_key, known_too=True)
    assert ring.secret_for(key.access_key) == new


async def test_misses_asked_together_share_one_look(kv: LmdbKV, master: MasterKey) -> None:
    ring = KeyRing({}, AccessKeys(kv, master))
    await ring.start()
    looks = 0
    refresh = ring.refresh

    async def counted() -> None:
        nonlocal looks
        looks += 1
        await refresh()

    ring.refresh = counted  # type: ignore[method-assign]
    found = await asyncio.gather(*(ring.refresh_for(f"NOSUCHKEY{i}") for i in range(20)))
    assert found == [False] * 20
    assert looks == 1


async def test_keys_of_a_deleted_user_are_refused(kv: LmdbKV, master: MasterKey) -> None:
    users = _users(kv, master)
    dave = await users.create("dave", "dave@example.com")
    key, _ = await users.create_key(dave)
    ring = KeyRing({}, AccessKeys(kv, master))
    await ring.start()
    assert ring.identity(key.access_key) is not None
    user, gone = await users.delete("dave")
    assert user.user_id == dave.user_id and gone == [key.access_key]
    await ring.refresh()
    assert ring.identity(key.access_key) is None and ring.secret_for(key.access_key) is None
    assert ring.user(dave.user_id) is None and ring.user_by_email("dave@example.com") is None
    with pytest.raises(AccessError, match="no such user"):
        await users.create_key(dave)  # a stale handle cannot add keys


async def test_user_names_and_emails_are_unique_and_checked(kv: LmdbKV, master: MasterKey) -> None:
    users = _users(kv, master)
    await users.create("erin", "erin@example.com")
    with pytest.raises(AccessError, match="exists"):
        await users.create("erin")
    with pytest.raises(AccessError, match="email"):
        await users.create("erin2", "Erin@Example.com")
    for bad in ("", "-x", "a b", "x" * 65, "ünï"):
        with pytest.raises(AccessError, match="invalid user name"):
            await users.create(bad)
    with pytest.raises(AccessError, match="invalid email"):
        await users.create("frank", "not-an-email")
    assert [u.display_name for u in await users.list()] == ["erin"]


async def test_a_user_who_owns_buckets_cannot_be_deleted(kv: LmdbKV, master: MasterKey) -> None:
    users = _users(kv, master)
    await users.record_bootstrap("BOOTKEY")
    gina = await users.create("gina")
    key, _ = await users.create_key(gina)
    # A bucket record with an owner, as the gateway writes it ("o": the owner's user id).
    rec = BucketRecord("ginas-bucket", 1).to_bytes()
    owned = pack_record({**unpack_record(rec), "o": gina.user_id})
    await kv.commit(Txn().put(bucket_key("ginas-bucket"), owned))
    await MetaStore(kv).create_bucket("legacy", "us-east-1")  # no owner: the bootstrap user's
    assert await users.owned_buckets(gina.user_id) == ["ginas-bucket"]
    assert await users.owned_buckets(BOOTSTRAP_USER_ID) == ["legacy"]
    with pytest.raises(AccessError, match="owns 1 bucket.*ginas-bucket.*delete them first"):
        await users.delete("gina")
    assert await users.find("gina") is not None and await users.keys.get(key.access_key)
    with pytest.raises(AccessError, match="bootstrap user"):
        await users.delete("cairn")
    with pytest.raises(AccessError, match="bootstrap key"):
        await users.keys.rotate("BOOTKEY")
    with pytest.raises(AccessError, match="bootstrap key"):
        await users.keys.deny("BOOTKEY", "legacy", None)


async def test_the_bootstrap_keys_record_only_tidies_the_listing(
    kv: LmdbKV, master: MasterKey
) -> None:
    """After the environment's key changed, the old key's record can be deleted; the key
    the environment names is accepted regardless, and recorded again at the next start."""
    ring = KeyRing({"BOOTKEY": "boot-secret"}, AccessKeys(kv, master))
    await ring.start()
    gone = await AccessKeys(kv, master).delete("BOOTKEY")
    assert gone is not None and gone.bootstrap
    await ring.refresh()
    assert ring.secret_for("BOOTKEY") == "boot-secret"
    await KeyRing({"BOOTKEY": "boot-secret"}, AccessKeys(kv, master)).start()
    assert await AccessKeys(kv, None).get("BOOTKEY") is not None


async def test_without_the_master_key_no_key_is_made_or_opened(
    kv: LmdbKV, master: MasterKey
) -> None:
    users = _users(kv, None)
    hal = await users.create("hal")
    with pytest.raises(AccessError, match="master key"):
        await users.create_key(hal)
    sealed = _users(kv, master)
    key, _ = await sealed.create_key(hal)
    ring = KeyRing({}, AccessKeys(kv, MasterKey.generate()))  # the wrong master key
    await ring.start()
    assert ring.identity(key.access_key) is None  # refused, not served with garbage


def test_old_record_format_parses() -> None:
    k = AccessKey.from_bytes("X", b'{"access_key": "X", "secret": "s", "buckets": ["a"]}')
    assert k.user_id == BOOTSTRAP_USER_ID and k.secret == "s" and k.rights("a") == ALL


async def test_master_key_rotation_reseals_at_start(kv: LmdbKV, tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    old = ensure_master_key(path)
    users = _users(kv, old)
    ivy = await users.create("ivy")
    key, secret = await users.create_key(ivy)
    new = rotate_master_key_file(path)
    assert new.key_id != old.key_id and load_master_key(path) == new
    ring = KeyRing({}, AccessKeys(kv, new))
    await ring.start()  # opens with the older key, re-seals under the new one
    assert ring.secret_for(key.access_key) == secret
    raw = await kv.get(access_key_key(key.access_key))
    assert raw is not None and json.loads(raw)["secret"]["kid"] == new.key_id
    only_new = MasterKey(new.keys[:1])  # the older key retired: still opens
    assert (await AccessKeys(kv, only_new).get(key.access_key)).open_secret(only_new) == secret  # type: ignore[union-attr]


async def test_a_user_made_after_the_last_refresh_is_learnt_when_a_listing_names_it(
    kv: LmdbKV, master: MasterKey
) -> None:
    """A worker that has not refreshed since a user was made (another worker served that
    user's write) looks the user up when a listing names it as an owner, rather than
    showing its id as its display name until the next periodic refresh."""
    ring = KeyRing({}, AccessKeys(kv, master))
    await ring.start()
    erin = await _users(kv, master).create("erin")
    assert ring.user(erin.user_id) is None
    ring._refreshed -= 1.0  # the last look is older than the 0.2 s a miss waits for
    await ring.learn_users({erin.user_id, BOOTSTRAP_USER_ID})
    assert ring.user(erin.user_id) == (erin.user_id, "erin")
