"""Encryption at rest against damage and key changes: a tampered chunk on one replica is
refused by its tag and another replica serves; master-key rotation rewraps SSE-S3 data
keys without rewriting data, so the old master key can be retired."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import crc32c
import lmdb

from blockstore.cluster.replicated import ReplicatedBlocks
from meta.sealing import MasterKey, load_master_key, replace_master_key_file
from tests.conftest import make_client
from tests.integration.helpers import get_bytes
from tests.server import CairnServer

MiB = 1 << 20


def cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cairn.cli", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _blocks(node: Path) -> dict[bytes, bytes]:
    env = lmdb.open(str(node), max_dbs=1, readonly=True, lock=False)
    try:
        with env.begin() as txn:
            return dict(txn.cursor())
    finally:
        env.close()


def _tamper(node: Path, bid: bytes) -> None:
    """Flip one byte inside the block's first chunk and store a CRC32C that matches the
    flipped bytes: the node's own check passes, only the chunk's GCM tag can tell."""
    env = lmdb.open(str(node), max_dbs=1, map_size=1 << 30)
    try:
        crcs = env.open_db(b"crc32c")
        with env.begin(write=True) as txn:
            value = bytearray(txn.get(bid))
            value[100] ^= 0x01
            txn.put(bid, bytes(value))
            txn.put(bid, crc32c.crc32c(value).to_bytes(4, "big"), db=crcs)
    finally:
        env.close()


def test_a_tampered_chunk_fails_that_replica_and_another_serves(tmp_path: Path) -> None:
    srv = CairnServer(
        tmp_path / "data", nodes=2, extra_args=["--replicas", "2", "--block-size", str(MiB)]
    ).start()
    try:
        s3 = make_client(srv)
        s3.create_bucket(Bucket="tamper")
        body = os.urandom(MiB)  # exactly one block
        s3.put_object(Bucket="tamper", Key="obj", Body=body, ServerSideEncryption="AES256")
        srv.stop()
        nodes = sorted((srv.data / "blocks").glob("node-*"))
        (bid,) = [b for b in _blocks(nodes[0]) if len(b) == 32]
        # The replica a read tries first: tamper with that one, so the tag must catch it.
        first = ReplicatedBlocks({n.name: None for n in nodes}, replicas=2)._read_order(bid)[0]  # type: ignore[misc]
        _tamper(srv.data / "blocks" / first, bid)
        srv.start()
        assert get_bytes(s3, "tamper", "obj") == body
        assert get_bytes(s3, "tamper", "obj", Range="bytes=10-300") == body[10:301]
        assert f"block {bid.hex()} is corrupt on {first}" in srv.log_path.read_text()
        # Both replicas tampered: the read fails rather than serve altered bytes.
        srv.stop()
        other = next(n for n in nodes if n.name != first)
        _tamper(other, bid)
        srv.start()
        try:
            data = get_bytes(s3, "tamper", "obj", Range="bytes=10-300")
        except Exception:  # noqa: BLE001 - a failed read is what is asked for
            data = None
        assert data is None
    finally:
        srv.stop()


def test_master_key_rotation_rewraps_data_keys_without_rewriting_data(tmp_path: Path) -> None:
    srv = CairnServer(tmp_path / "data", extra_args=["--block-size", str(MiB)]).start()
    try:
        s3 = make_client(srv)
        s3.create_bucket(Bucket="rot")
        big, small = os.urandom(3 * MiB + 5), os.urandom(100)
        s3.put_object(Bucket="rot", Key="big", Body=big, ServerSideEncryption="AES256")
        s3.put_object(Bucket="rot", Key="small", Body=small, ServerSideEncryption="AES256")
        s3.put_object(Bucket="rot", Key="plain", Body=b"plain")
        srv.stop()
        blocks_before = {p: p.read_bytes() for p in (srv.data / "blocks").rglob("data.mdb")}
        keyfile = srv.data / "master.key"
        old = load_master_key(keyfile)
        cli("master-key", "rotate", str(keyfile))
        out = json.loads(cli("admin", "--data", str(srv.data), "rewrap", "--json"))
        rotated = load_master_key(keyfile)
        assert out == {"rewrapped": 2, "master_key": rotated.key_id} != old.key_id
        again = json.loads(cli("admin", "--data", str(srv.data), "rewrap", "--json"))
        assert again["rewrapped"] == 0
        # No block was rewritten; the old master key can go.
        assert {p: p.read_bytes() for p in blocks_before} == blocks_before
        keyfile.unlink()
        replace_master_key_file(keyfile, MasterKey(rotated.keys[:1], rotated.kms))
        srv.start()
        assert get_bytes(s3, "rot", "big") == big
        assert (
            get_bytes(s3, "rot", "big", Range=f"bytes={MiB - 1}-{MiB + 1}")
            == big[MiB - 1 : MiB + 2]
        )
        assert get_bytes(s3, "rot", "small") == small
        assert get_bytes(s3, "rot", "plain") == b"plain"
    finally:
        srv.stop()
