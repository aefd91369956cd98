"""s3cmd against a real Cairn (path style, SigV4, plain HTTP): mb, put, get, ls, del, sync
of a small tree, rb. Bytes are checked with md5 through boto3 and on disk."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from tests.clients.clients_util import (
    MiB,
    ServerLog,
    bucket_contents,
    local_tree,
    make_tree,
    md5_file,
    new_bucket_name,
    require_binary,
    run,
    temp_bucket,
    write_random_file,
)
from tests.server import CairnServer

# A small tree: nesting, a space, unicode, an empty file and sizes around s3cmd's buffers.
SMALL_TREE = [
    ("a.txt", 100),
    ("empty", 0),
    ("sub dir/b.bin", 300_000),
    ("sub dir/deeper/c.bin", 1 * MiB + 3),
    ("ünï/ファイル.txt", 2_000),
    ("ünï/naïve café.txt", 17),
]


class S3cmd:
    def __init__(self, server: CairnServer, tmp: Path) -> None:
        self.binary = require_binary("s3cmd")
        host = f"127.0.0.1:{server.port}"
        self.config = tmp / "s3cmd.cfg"
        self.config.write_text(
            "[default]\n"
            f"access_key = {server.access_key}\n"
            f"secret_key = {server.secret_key}\n"
            f"host_base = {host}\n"
            f"host_bucket = {host}\n"
            "bucket_location = us-east-1\n"
            "use_https = False\n"
            "signature_v2 = False\n"
        )

    def __call__(self, *args: str, check: bool = True, timeout: float = 20):
        # s3cmd retries a 500 five times with growing waits (45 s in all) and has no option
        # for fewer in this version: a 20 s timeout fails such a test sooner, showing the
        # retried requests s3cmd printed so far.
        return run(
            [self.binary, "-c", str(self.config), "--no-progress", *args],
            check=check,
            timeout=timeout,
        )


@pytest.fixture
def s3cmd(server: CairnServer, tmp_path: Path) -> S3cmd:
    if server.tls:
        pytest.skip("s3cmd is tested over plain HTTP")
    return S3cmd(server, tmp_path)


@pytest.fixture
def log(server: CairnServer) -> ServerLog:
    """The server log from here on: each test ends by checking it has no errors."""
    return ServerLog(server)


def test_mb_ls_rb(s3cmd: S3cmd, s3, log) -> None:
    name = new_bucket_name("s3cmd")
    try:
        s3cmd("mb", f"s3://{name}")
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert f"s3://{name}" in s3cmd("ls").stdout.decode()
        s3cmd("rb", f"s3://{name}")
        assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        with contextlib.suppress(Exception):
            s3.delete_bucket(Bucket=name)
    log.assert_clean()


def test_put_get_ls_del(s3cmd: S3cmd, s3, bucket: str, tmp_path: Path, log) -> None:
    files = {
        "small.txt": write_random_file(tmp_path / "up/small.txt", 1000, seed=1),
        "empty.bin": write_random_file(tmp_path / "up/empty.bin", 0, seed=2),
        "two mib.bin": write_random_file(tmp_path / "up/two mib.bin", 2 * MiB + 5, seed=3),
        "ünïcödé ☃.txt": write_random_file(tmp_path / "up/ünïcödé ☃.txt", 4321, seed=4),
    }
    for name in files:
        s3cmd("put", str(tmp_path / "up" / name), f"s3://{bucket}/dir/{name}")
    assert bucket_contents(s3, bucket) == {f"dir/{k}": v for k, v in files.items()}

    # ls: the prefix as a directory, then its objects with their sizes.
    top = s3cmd("ls", f"s3://{bucket}").stdout.decode()
    assert "DIR" in top and f"s3://{bucket}/dir/" in top, top
    listing = s3cmd("ls", f"s3://{bucket}/dir/").stdout.decode().splitlines()
    assert len(listing) == len(files), listing
    for name in files:
        line = next(line for line in listing if line.endswith(f"s3://{bucket}/dir/{name}"))
        assert int(line.split()[2]) == (tmp_path / "up" / name).stat().st_size, line
    recursive = s3cmd("ls", "-r", f"s3://{bucket}").stdout.decode()
    assert all(f"s3://{bucket}/dir/{name}" in recursive for name in files), recursive

    # get: byte-identical files on disk.
    down = tmp_path / "down"
    down.mkdir()
    for name, md5 in files.items():
        s3cmd("get", f"s3://{bucket}/dir/{name}", str(down / name))
        assert md5_file(down / name) == md5, name

    # del, one by one, then a recursive delete of the rest.
    s3cmd("del", f"s3://{bucket}/dir/small.txt")
    assert "dir/small.txt" not in bucket_contents(s3, bucket)
    s3cmd("del", "--recursive", "--force", f"s3://{bucket}/dir/")
    assert bucket_contents(s3, bucket) == {}
    assert s3cmd("ls", f"s3://{bucket}").stdout.decode().strip() == ""
    log.assert_clean()


def test_sync_tree(s3cmd: S3cmd, s3, tmp_path: Path, log) -> None:
    root = tmp_path / "tree"
    files = make_tree(root, SMALL_TREE)
    with temp_bucket(s3, "s3cmd") as bucket:
        s3cmd("sync", f"{root}/", f"s3://{bucket}/backup/")
        assert bucket_contents(s3, bucket) == {f"backup/{k}": v for k, v in files.items()}

        # Change one file, delete one, add one; sync with --delete-removed.
        write_random_file(root / "a.txt", 150, seed=9)
        (root / "sub dir/b.bin").unlink()
        write_random_file(root / "new/added.bin", 70_000, seed=10)
        s3cmd("sync", "--delete-removed", f"{root}/", f"s3://{bucket}/backup/")
        want = local_tree(root)
        assert bucket_contents(s3, bucket) == {f"backup/{k}": v for k, v in want.items()}

        # A second sync has nothing to upload.
        out = s3cmd("sync", "--delete-removed", f"{root}/", f"s3://{bucket}/backup/")
        assert b"upload:" not in out.stdout, out.stdout.decode()

        # Sync back down to an empty directory: the same tree, byte for byte.
        back = tmp_path / "back"
        back.mkdir()
        s3cmd("sync", f"s3://{bucket}/backup/", f"{back}/")
        assert local_tree(back) == want
        shutil.rmtree(back)
    log.assert_clean()


def test_info(s3cmd: S3cmd, s3, bucket: str, tmp_path: Path, log) -> None:
    """`s3cmd info` reads the object's head, then its policy, CORS and ACL: a server that
    does not implement those must say so (404/501), which s3cmd shows as "none"."""
    md5 = write_random_file(tmp_path / "f.txt", 1000, seed=5)
    s3cmd("put", str(tmp_path / "f.txt"), f"s3://{bucket}/f.txt")
    info = s3cmd("info", f"s3://{bucket}/f.txt").stdout.decode()
    assert "File size: 1000" in info, info
    assert f"MD5 sum:   {md5}" in info, info
    log.assert_clean()
