"""`cairn admin` against a real `cairn serve` (2 block stores, R=2): each command's text
(tables with headers, a clear line for an empty list) and --json, fsck on a healthy store
and after a block's copies were deleted from the stores, and every mistake of issue 18
answered by one line and its own exit status (cairn/exits.py), without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from blockstore.api import all_ids
from blockstore.lmdb_store import LmdbBlockStore
from cairn.exits import Exit
from cairn.launcher import free_port
from tests.server import CairnServer


def cairn(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CairnServer]:
    server = CairnServer(
        tmp_path_factory.mktemp("admincli") / "data",
        nodes=2,
        extra_args=["--replicas", "2", "--inline-max", "0", "--block-size", "65536"],
    ).start()
    s3 = boto3.client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name="us-east-1",
    )  # fmt: skip
    s3.create_bucket(Bucket="photos")
    s3.put_object(Bucket="photos", Key="a.jpg", Body=os.urandom(100_000))  # 2 blocks
    s3.put_object(Bucket="photos", Key="b.jpg", Body=os.urandom(1000))
    try:
        yield server
    finally:
        server.stop()


def admin(srv: CairnServer, *args: str) -> subprocess.CompletedProcess[str]:
    return cairn("admin", "--data", str(srv.data), *args)


def admin_json(srv: CairnServer, *args: str) -> object:
    done = admin(srv, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --------------------------------------------------------------------------- happy paths


def test_status_text_and_json(srv: CairnServer) -> None:
    done = admin(srv, "status", "--replicas", "2")
    assert done.returncode == 0, done.stderr
    assert "nodes: 2 up, 0 down" in done.stdout
    assert "NODE" in done.stdout and "CAPACITY" in done.stdout and "HEALTH" in done.stdout
    assert "blocks: 3 referenced, 0 under-replicated, 0 missing" in done.stdout
    assert "GC queue" in done.stdout
    data = admin_json(srv, "status", "--replicas", "2")
    assert isinstance(data, dict)
    assert [n["node_id"] for n in data["nodes"]] == ["node-0", "node-1"]
    assert data["nodes_down"] == [] and data["blocks"]["whole"] == 3


def test_status_no_blocks_skips_the_block_pass(srv: CairnServer) -> None:
    done = admin(srv, "status", "--no-blocks")
    assert done.returncode == 0 and "blocks: not checked" in done.stdout
    assert admin_json(srv, "status", "--no-blocks")["blocks"] is None  # type: ignore[index]


def test_nodes_table_has_headers(srv: CairnServer) -> None:
    done = admin(srv, "nodes")
    header = done.stdout.splitlines()[0].split()
    assert header == ["NODE", "URL", "ZONE", "USED", "CAPACITY", "HEALTH", "LEASE"]
    assert "node-1" in done.stdout and "GiB" in done.stdout
    rows = admin_json(srv, "nodes")
    assert {r["node_id"] for r in rows} == {"node-0", "node-1"}  # type: ignore[union-attr,index]


def test_users_and_keys_tables_and_json(srv: CairnServer) -> None:
    users = admin(srv, "user", "list")
    assert users.stdout.split()[:4] == ["USER", "ID", "EMAIL", "KEYS"]
    assert "bootstrap user" in users.stdout
    keys = admin(srv, "key", "list")
    assert keys.stdout.split()[:4] == ["ACCESS", "KEY", "USER", "BUCKETS"]
    assert srv.access_key in keys.stdout
    listed = admin_json(srv, "key", "list")
    assert [k["access_key"] for k in listed] == [srv.access_key]  # type: ignore[union-attr,index]
    assert "secret" not in json.dumps(listed)


def test_an_empty_list_says_so(srv: CairnServer) -> None:
    made = admin(srv, "user", "create", "nokeys-user")
    assert made.returncode == 0, made.stderr
    key = json.loads(admin(srv, "key", "list", "--json").stdout)
    mine = [k["access_key"] for k in key if k["display_name"] == "nokeys-user"]
    assert admin(srv, "key", "delete", mine[0]).returncode == 0
    done = admin(srv, "key", "list", "--user", "nokeys-user")
    assert done.returncode == 0 and done.stdout.strip() == "no access keys"
    assert admin_json(srv, "key", "list", "--user", "nokeys-user") == []
    layout = admin(srv, "layout")  # cairn serve has no cluster layout
    assert layout.stdout.strip() == "no layout yet"


def test_fsck_of_a_healthy_store(srv: CairnServer) -> None:
    done = admin(srv, "fsck", "--replicas", "2")
    assert done.returncode == 0, done.stderr
    assert "checked 3 referenced blocks on 2 node(s) for R=2" in done.stdout
    assert "OK: every block is whole" in done.stdout
    report = admin_json(srv, "fsck", "--replicas", "2")
    assert report["ok"] is True and report["whole"] == 3  # type: ignore[index]


# --------------------------------------------------------------------------- mistakes


def test_meta_lmdb_dir_without_metadata_is_refused_and_not_created(tmp_path: Path) -> None:
    target = tmp_path / "data"  # the mistake of the issue: --meta lmdb:data
    done = cairn("admin", "--meta", f"lmdb:{target}", "nodes")
    assert done.returncode == Exit.NO_METADATA
    assert "holds no Cairn metadata" in done.stderr
    no_traceback(done)
    assert not target.exists(), "an empty LMDB was created"


def test_data_that_is_no_serve_directory_is_refused(tmp_path: Path) -> None:
    done = cairn("admin", "--data", str(tmp_path), "status", "--json")
    assert done.returncode == Exit.NO_METADATA
    assert json.loads(done.stdout)["exit"] == Exit.NO_METADATA
    assert list(tmp_path.iterdir()) == []


def test_unreachable_etcd_is_one_line(tmp_path: Path) -> None:
    done = cairn("admin", "--meta", f"etcd://127.0.0.1:{free_port()}", "nodes")
    assert done.returncode == Exit.META_UNREACHABLE
    assert "the metadata store does not answer" in done.stderr
    no_traceback(done)


def test_bogus_meta_spec_is_one_line() -> None:
    done = cairn("admin", "--meta", "bogus", "nodes")
    assert done.returncode == Exit.REFUSED and "unknown metadata store 'bogus'" in done.stderr
    no_traceback(done)


def test_unknown_node_key_and_bucket_are_refused(srv: CairnServer) -> None:
    for args, what in (
        (("remove-node", "node-9"), "no such node: node-9"),
        (("key", "delete", "NOSUCHKEY"), "no such key: NOSUCHKEY"),
        (("bucket", "info", "nosuchbucket"), "no such bucket: nosuchbucket"),
    ):
        done = admin(srv, *args)
        assert done.returncode == Exit.REFUSED, (args, done.stderr)
        assert what in done.stderr
        no_traceback(done)


# --------------------------------------------------------------------------- fsck damage


def _blocks_of(store_dir: Path) -> list[bytes]:
    import asyncio

    async def ids() -> list[bytes]:
        store = LmdbBlockStore(store_dir, verify_puts=False)
        try:
            return [b async for page in all_ids(store) for b in page]
        finally:
            await store.close()

    return asyncio.run(ids())


def _delete(store_dir: Path, block_id: bytes) -> None:
    import asyncio

    async def go() -> None:
        store = LmdbBlockStore(store_dir, verify_puts=False)
        try:
            await store.delete(block_id)
        finally:
            await store.close()

    asyncio.run(go())


def test_fsck_reports_under_replicated_then_missing_blocks(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Its own server: the damage must not leak into the other tests."""
    server = CairnServer(
        tmp_path_factory.mktemp("fsck") / "data",
        nodes=2,
        extra_args=["--replicas", "2", "--inline-max", "0"],
    ).start()
    try:
        s3 = boto3.client(
            "s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key, region_name="us-east-1",
        )  # fmt: skip
        s3.create_bucket(Bucket="versions")
        s3.put_bucket_versioning(Bucket="versions", VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket="versions", Key="k", Body=b"old" * 1000)
        s3.put_object(Bucket="versions", Key="k", Body=b"new" * 1000)  # old is noncurrent
        up = s3.create_multipart_upload(Bucket="versions", Key="mp")
        s3.upload_part(
            Bucket="versions", Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * 2000
        )
        nodes = [server.data / "blocks" / f"node-{i}" for i in range(2)]
        blocks = _blocks_of(nodes[0])
        assert len(blocks) == 3 and sorted(blocks) == sorted(_blocks_of(nodes[1]))
        healthy = cairn("admin", "--data", str(server.data), "fsck", "--replicas", "2")
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr

        _delete(nodes[1], blocks[0])
        under = cairn("admin", "--data", str(server.data), "fsck", "--replicas", "2")
        assert under.returncode == Exit.UNDER_REPLICATED, under.stdout
        assert f"under-replicated: {blocks[0].hex()}" in under.stdout

        _delete(nodes[0], blocks[0])
        _delete(nodes[1], blocks[1])
        gone = cairn("admin", "--data", str(server.data), "fsck", "--replicas", "2", "--json")
        assert gone.returncode == Exit.MISSING_BLOCKS
        report = json.loads(gone.stdout)
        assert report["missing_ids"] == [blocks[0].hex()]
        assert report["under_replicated_ids"] == [blocks[1].hex()]
        assert (report["whole"], report["ok"]) == (1, False)
        status = cairn("admin", "--data", str(server.data), "status", "--replicas", "2")
        assert status.returncode == Exit.MISSING_BLOCKS
        assert "1 under-replicated, 1 missing" in status.stdout
    finally:
        server.stop()


def test_bucket_list_and_info(srv: CairnServer) -> None:
    listed = admin(srv, "bucket", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:6] == ["BUCKET", "OWNER", "CREATED", "VERSIONING", "OBJECTS", "SIZE"]  # fmt: skip
    row = next(line for line in listed.stdout.splitlines() if line.startswith("photos"))
    assert "Unversioned" in row and " 2 " in f" {row} "
    rows = admin_json(srv, "bucket", "list")
    photos = next(r for r in rows if r["bucket"] == "photos")  # type: ignore[union-attr]
    assert (photos["objects"], photos["bytes"]) == (2, 101_000)
    info = admin_json(srv, "bucket", "info", "photos")
    assert info["owner"] == "cairn" and info["bytes"] == 101_000  # type: ignore[index]
    text = admin(srv, "bucket", "info", "photos").stdout
    assert "objects:" in text and "98.6 KiB (101000)" in text


def test_bucket_list_of_a_store_without_buckets(tmp_path: Path) -> None:
    server = CairnServer(tmp_path / "data").start()
    try:
        done = cairn("admin", "--data", str(server.data), "bucket", "list")
        assert done.returncode == 0 and done.stdout.strip() == "no buckets"
        again = cairn("admin", "--data", str(server.data), "bucket", "list", "--json")
        assert json.loads(again.stdout) == []
    finally:
        server.stop()


# --------------------------------------------------------------------------- jobs


def test_gc_repair_and_scrub_run_now(tmp_path_factory: pytest.TempPathFactory) -> None:
    """GC of a deleted object's blocks, repair of a lost copy, scrub of every block: each
    pass run from the CLI (the server's own housekeeper switched off)."""
    server = CairnServer(
        tmp_path_factory.mktemp("jobs") / "data", nodes=2,
        extra_args=["--replicas", "2", "--inline-max", "0", "--gc-grace", "0",
                    "--gc-interval", "0", "--repair-interval", "0"],
    ).start()  # fmt: skip
    data = str(server.data)
    try:
        s3 = boto3.client(
            "s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key, region_name="us-east-1",
        )  # fmt: skip
        s3.create_bucket(Bucket="jobs")
        s3.put_object(Bucket="jobs", Key="keep", Body=os.urandom(5000))
        s3.put_object(Bucket="jobs", Key="drop", Body=os.urandom(5000))
        nodes = [server.data / "blocks" / f"node-{i}" for i in range(2)]
        assert len(_blocks_of(nodes[0])) == 2
        s3.delete_object(Bucket="jobs", Key="drop")

        gc = cairn("admin", "--data", data, "gc", "run", "--wait", "--replicas", "2", "--json")
        assert gc.returncode == 0, gc.stderr
        assert json.loads(gc.stdout)["deleted"] == 1
        kept = _blocks_of(nodes[0])
        assert len(kept) == 1 and _blocks_of(nodes[1]) == kept

        _delete(nodes[1], kept[0])
        text = cairn("admin", "--data", data, "repair", "run", "--wait", "--replicas", "2")
        assert text.returncode == 0, text.stderr
        assert "repair: partitions 1, copied 1" in text.stdout
        assert _blocks_of(nodes[1]) == kept
        assert cairn("admin", "--data", data, "fsck", "--replicas", "2").returncode == 0

        scrub = cairn("admin", "--data", data, "scrub", "run", "--wait", "--json")
        assert scrub.returncode == 0, scrub.stderr
        checked = json.loads(scrub.stdout)["nodes"]
        assert {n: v["checked"] for n, v in checked.items()} == {"node-0": 1, "node-1": 1}
        assert all(v["bad"] == 0 for v in checked.values())
    finally:
        server.stop()


def test_ca_commands_print_json_too(tmp_path: Path) -> None:
    made = cairn("admin", "ca", "init", "--dir", str(tmp_path / "ca"), "--json")
    assert made.returncode == 0, made.stderr
    assert Path(json.loads(made.stdout)["ca"]).is_file()
    issued = cairn(
        "admin", "--json", "ca", "issue", "--dir", str(tmp_path / "ca"), "--name", "s3",
        "--san", "127.0.0.1",
    )  # fmt: skip
    paths = json.loads(issued.stdout)
    assert Path(paths["cert"]).is_file() and Path(paths["key"]).stat().st_mode & 0o077 == 0


def test_admin_without_a_store_is_a_usage_error() -> None:
    done = cairn("admin", "nodes")
    assert done.returncode == Exit.USAGE
    assert done.stderr.strip() == "cairn admin: nodes: give --meta, --data or --cluster"
