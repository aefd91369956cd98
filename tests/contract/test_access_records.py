"""Owners and access configuration in the metadata records, on every KV backend (LMDB and
etcd): a bucket's owner and config (ACL, policy, ownership, Public Access Block) written
at creation and changed with compare-and-swap; an object's owner and ACL with its head,
changed in place without a new version; records written before owners existed read back
with no owner (the bootstrap user's)."""

from __future__ import annotations

import pytest

from meta import keys
from meta.api import KV, Txn
from meta.errors import ObjectNotFound
from meta.records import BucketRecord, ObjectHead, Upload, pack_record
from meta.store import MetaStore

CONFIG = {"acl": {"o": "alice", "n": "Alice", "g": [["u", "FULL_CONTROL", "alice", "Alice"]]}}


async def test_bucket_owner_and_config_round_trip(kv: KV) -> None:
    store = MetaStore(kv)
    await store.create_bucket("b1", "us-east-1", "alice", CONFIG)
    rec = await store.bucket_record("b1")
    assert rec is not None
    assert (rec.owner, rec.config) == ("alice", CONFIG)

    def change(r: BucketRecord) -> None:
        r.config["policy"] = '{"Statement": []}'
        r.config["pab"] = {"bpa": True, "ipa": False, "bpp": False, "rpb": True}

    await store.update_bucket("b1", change)
    again = await MetaStore(kv).bucket_record("b1")
    assert again is not None and again.owner == "alice"
    assert again.config["policy"] == '{"Statement": []}'
    assert again.config["pab"]["rpb"] is True
    assert again.config["acl"] == CONFIG["acl"]


async def test_a_refused_change_changes_nothing(kv: KV) -> None:
    store = MetaStore(kv)
    await store.create_bucket("b2", "us-east-1", "alice", CONFIG)
    before = await kv.get(keys.bucket_key("b2"))

    def bad(r: BucketRecord) -> None:
        r.config["policy"] = "half-written"
        raise ValueError("refused")

    with pytest.raises(ValueError):
        await store.update_bucket("b2", bad)
    assert await kv.get(keys.bucket_key("b2")) == before


async def test_records_from_before_owners_read_with_no_owner(kv: KV) -> None:
    old = pack_record({"n": "old", "c": 1, "r": "us-east-1", "s": "active"})
    await kv.commit(Txn().put(keys.bucket_key("old"), old))
    rec = await MetaStore(kv).bucket_record("old")
    assert rec is not None and (rec.owner, rec.config) == ("", {})
    head = ObjectHead.from_bytes(pack_record({"k": "k", "v": b"v" * 16, "s": 0, "e": "", "t": 1}))
    assert (head.owner, head.acl) == ("", None)


async def test_object_acl_changes_in_place(kv: KV) -> None:
    store = MetaStore(kv)
    await store.create_bucket("b3", "us-east-1", "alice")
    head = ObjectHead("k", size=1, etag="e", inline=b"x", owner="bob", acl=None)
    await store.put_object("b3", head, {})

    def grant(h: ObjectHead) -> None:
        h.acl = {"o": "bob", "n": "", "g": [["g", "READ", "uri", ""]]}

    await store.update_object("b3", "k", grant)
    got = await store.get_object("b3", "k")
    assert (got.owner, got.version, got.inline) == ("bob", head.version, b"x")
    assert got.acl == {"o": "bob", "n": "", "g": [["g", "READ", "uri", ""]]}
    with pytest.raises(ObjectNotFound):
        await store.update_object("b3", "missing", grant)


def test_upload_keeps_its_owner_and_acl() -> None:
    up = Upload("id", "b", "k", owner="bob", acl={"o": "bob", "n": "", "g": []})
    back = Upload.from_bytes("id", up.to_bytes())
    assert (back.owner, back.acl) == ("bob", {"o": "bob", "n": "", "g": []})
