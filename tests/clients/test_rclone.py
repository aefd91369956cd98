"""rclone against a real Cairn, over HTTP and HTTPS: copy, check, sync with deletions, lsf,
cat, modification-time updates (server-side copy onto itself), purge, and `rclone mount`.

rclone is configured only through a temp config file (type s3, provider Other, path style)
with default settings otherwise. Every byte is checked with md5 through boto3.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.clients.clients_util import (
    MiB,
    ServerLog,
    bucket_contents,
    bucket_keys,
    in_ci,
    local_tree,
    make_tree,
    md5_bytes,
    missing,
    require_binary,
    run,
    temp_bucket,
    write_random_file,
)
from tests.conftest import make_client
from tests.server import CairnServer

REMOTE = "cairn"


@dataclass
class Rclone:
    """rclone with a private config file naming one remote, `cairn:`, for `server`."""

    binary: str
    server: CairnServer
    config: Path

    @classmethod
    def for_server(cls, server: CairnServer, tmp: Path) -> Rclone:
        binary = require_binary("rclone")
        config = tmp / "rclone.conf"
        config.write_text(
            f"[{REMOTE}]\n"
            "type = s3\n"
            "provider = Other\n"
            "env_auth = false\n"
            f"access_key_id = {server.access_key}\n"
            f"secret_access_key = {server.secret_key}\n"
            "region = us-east-1\n"
            f"endpoint = {server.endpoint}\n"
            "force_path_style = true\n"
        )
        return cls(binary, server, config)

    def flags(self) -> list[str]:
        out = ["--config", str(self.config)]
        if self.server.tls:
            out.append("--no-check-certificate")
        return out

    def env(self) -> dict[str, str]:
        # Keep the caller's RCLONE_* settings and AWS_* credentials out of the picture.
        clean = {k: "" for k in os.environ if k.startswith(("RCLONE_", "AWS_"))}
        return {**clean, "RCLONE_CONFIG": str(self.config)}

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        proc = run(
            [self.binary, *args, *self.flags(), "-v"],
            env=self.env(),
            timeout=timeout,
            check=check,
        )
        if check:
            errors = [
                line
                for line in proc.stderr.decode(errors="replace").splitlines()
                if re.search(r"\bERROR\b", line)
            ]
            assert not errors, f"rclone {' '.join(args)} logged errors:\n" + "\n".join(errors)
        return proc

    def lsl(self, path: str) -> dict[str, tuple[int, str]]:
        """{path: (size, "YYYY-MM-DD HH:MM:SS.fffffffff")} from `rclone lsl`."""
        out: dict[str, tuple[int, str]] = {}
        for line in self("lsl", path).stdout.decode().splitlines():
            m = re.match(r"\s*(\d+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) (.*)$", line)
            assert m, f"unexpected lsl line: {line!r}"
            out[m.group(3)] = (int(m.group(1)), m.group(2))
        return out


@pytest.fixture(params=["http", "https"])
def endpoint_server(request: pytest.FixtureRequest) -> CairnServer:
    return request.getfixturevalue("server" if request.param == "http" else "tls_server")


@pytest.fixture
def rclone(endpoint_server: CairnServer, tmp_path: Path) -> Rclone:
    return Rclone.for_server(endpoint_server, tmp_path)


@pytest.fixture
def s3c(endpoint_server: CairnServer):
    return make_client(endpoint_server)


@pytest.fixture
def rbucket(s3c) -> Iterator[str]:
    """A bucket that rclone itself creates on first copy (we only pick the name)."""
    with temp_bucket(s3c, "rclone", create=False) as name:
        yield name


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "tree"
    return root, make_tree(root)


def test_copy_check_lsf_cat(rclone: Rclone, s3c, rbucket: str, tree, endpoint_server) -> None:
    log = ServerLog(endpoint_server)
    root, files = tree
    dest = f"{REMOTE}:{rbucket}"
    rclone("copy", str(root), dest)

    # Every byte, as boto3 reads it back.
    assert bucket_contents(s3c, rbucket) == files

    # rclone's own view: sizes and md5 (ETag) of both sides agree.
    proc = rclone("check", str(root), dest)
    assert b"0 differences found" in proc.stderr, proc.stderr.decode()
    proc = rclone("check", "--download", str(root), dest)
    assert b"0 differences found" in proc.stderr, proc.stderr.decode()

    listed = rclone("lsf", "-R", "--files-only", dest).stdout.decode().splitlines()
    assert sorted(listed) == sorted(files)
    top = rclone("lsf", dest).stdout.decode().splitlines()
    assert sorted(top) == sorted({rel.split("/")[0] + ("/" if "/" in rel else "") for rel in files})
    sub = rclone("lsf", f"{dest}/ünïcödé").stdout.decode().splitlines()
    assert sorted(sub) == sorted(
        ["naïve café.txt", "日本語のファイル.bin", "emoji 🎉.txt", "Ελληνικά/"]
    )

    for rel in ["empty.txt", "with space.txt", "ünïcödé/日本語のファイル.bin", "big/two-mib.bin"]:
        out = rclone("cat", f"{dest}/{rel}").stdout
        assert md5_bytes(out) == files[rel], rel
    # cat with an offset and count: a ranged GET.
    want = (root / "big/two-mib.bin").read_bytes()[1000 : 1000 + 5000]
    out = rclone("cat", "--offset", "1000", "--count", "5000", f"{dest}/big/two-mib.bin").stdout
    assert out == want

    # A second copy transfers nothing: rclone sees the objects as identical.
    proc = rclone("copy", str(root), dest)
    assert b"There was nothing to transfer" in proc.stderr, proc.stderr.decode()
    log.assert_clean()


def test_sync_with_deletions(rclone: Rclone, s3c, rbucket: str, tree, endpoint_server) -> None:
    log = ServerLog(endpoint_server)
    root, files = tree
    dest = f"{REMOTE}:{rbucket}"
    rclone("sync", str(root), dest)
    assert bucket_contents(s3c, rbucket) == files

    # Delete files and a whole directory, change one file's content, add one.
    (root / "readme.md").unlink()
    (root / "ünïcödé/emoji 🎉.txt").unlink()
    shutil.rmtree(root / "dir one")
    write_random_file(root / "with space.txt", 5000, seed=77)
    write_random_file(root / "new/added file.bin", 300_000, seed=78)
    rclone("sync", str(root), dest)

    want = local_tree(root)
    assert bucket_contents(s3c, rbucket) == want
    for gone in ["readme.md", "ünïcödé/emoji 🎉.txt", "dir one/file with spaces.dat"]:
        assert gone not in want
    proc = rclone("check", str(root), dest)
    assert b"0 differences found" in proc.stderr, proc.stderr.decode()
    log.assert_clean()


def test_modtime_update_by_server_side_copy(
    rclone: Rclone, s3c, rbucket: str, tmp_path: Path, endpoint_server
) -> None:
    log = ServerLog(endpoint_server)
    root = tmp_path / "mt"
    old = datetime(2020, 5, 17, 10, 20, 30, tzinfo=UTC).timestamp()
    md5s = {}
    for name, size in [("a.txt", 1000), ("sub/b.bin", 2 * MiB), ("c d.txt", 10)]:
        md5s[name] = write_random_file(root / name, size, seed=len(name) + size)
        os.utime(root / name, (old, old))
    dest = f"{REMOTE}:{rbucket}"
    rclone("sync", str(root), dest)
    before = rclone.lsl(dest)
    assert before["a.txt"] == (1000, "2020-05-17 10:20:30.000000000")
    assert before["sub/b.bin"][1] == "2020-05-17 10:20:30.000000000"
    etags = {k: s3c.head_object(Bucket=rbucket, Key=k)["ETag"] for k in md5s}

    # 1. A newer local mtime, same bytes: sync updates the remote mtime in place.
    new = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp() + 0.6
    new_ns = int(datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()) * 10**9 + 600_000_000
    os.utime(root / "a.txt", ns=(new_ns, new_ns))
    os.utime(root / "sub/b.bin", ns=(new_ns, new_ns))
    proc = rclone("sync", str(root), dest)
    err = proc.stderr.decode()
    # Done by server-side copy onto itself (SetModTime), not by uploading again.
    assert err.count("Updated modification time in destination") == 2, err
    assert "Copied (" not in err, err
    after = rclone.lsl(dest)
    assert after["a.txt"] == (1000, "2023-01-02 03:04:05.600000000")
    assert after["sub/b.bin"] == (2 * MiB, "2023-01-02 03:04:05.600000000")
    assert after["c d.txt"] == before["c d.txt"]
    head = s3c.head_object(Bucket=rbucket, Key="a.txt")
    assert float(head["Metadata"]["mtime"]) == pytest.approx(new, abs=1e-3)

    # 2. rclone touch of an existing object: also a copy onto itself.
    rclone("touch", "-t", "2011-11-11T11:11:11", f"{dest}/c d.txt")
    after_touch = rclone.lsl(dest)
    assert after_touch["c d.txt"] == (10, "2011-11-11 11:11:11.000000000")

    # The bytes and ETags are untouched, and rclone now sees no differences.
    assert bucket_contents(s3c, rbucket) == md5s
    assert {k: s3c.head_object(Bucket=rbucket, Key=k)["ETag"] for k in md5s} == etags
    os.utime(root / "c d.txt", (datetime(2011, 11, 11, 11, 11, 11, tzinfo=UTC).timestamp(),) * 2)
    proc = rclone("check", str(root), dest)
    assert b"0 differences found" in proc.stderr, proc.stderr.decode()
    proc = rclone("sync", str(root), dest)
    assert "Updated modification time" not in proc.stderr.decode()
    log.assert_clean()


def test_purge(rclone: Rclone, s3c, rbucket: str, tree, endpoint_server) -> None:
    log = ServerLog(endpoint_server)
    root, files = tree
    dest = f"{REMOTE}:{rbucket}"
    rclone("copy", str(root), dest)
    assert len(bucket_keys(s3c, rbucket)) == len(files)

    # Purge a directory, then the whole bucket.
    rclone("purge", f"{dest}/dir one")
    assert not bucket_keys(s3c, rbucket, prefix="dir one/")
    assert len(bucket_keys(s3c, rbucket)) == len(files) - 4
    rclone("purge", dest)
    names = [b["Name"] for b in s3c.list_buckets()["Buckets"]]
    assert rbucket not in names
    log.assert_clean()


# ---------------------------------------------------------------------------------------
# rclone mount (FUSE)


# What fusermount prints where FUSE cannot be used at all: no FUSE device (no kernel
# module), or a container that may not open it or mount. Only these exact messages skip
# the test, and never under CI=true; any other failure of `rclone mount` is a failure.
FUSE_UNAVAILABLE = re.compile(
    r"fusermount3?: (fuse device not found, try 'modprobe fuse' first"
    r"|failed to open /dev/fuse: (Permission denied|Operation not permitted)"
    r"|mount failed: Operation not permitted)"
)


def _fuse_unusable_reason(output: str) -> str | None:
    m = FUSE_UNAVAILABLE.search(output)
    return m.group(0) if m else None


def _is_mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == target for line in f if len(line.split()) > 1)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.25)


def test_mount(server: CairnServer, s3, bucket: str, tmp_path: Path) -> None:
    if not os.path.exists("/dev/fuse"):
        missing("/dev/fuse does not exist: FUSE cannot be used here")
    fusermount = require_binary("fusermount3", "fusermount")
    rclone = Rclone.for_server(server, tmp_path)
    log = ServerLog(server)
    s3.put_object(Bucket=bucket, Key="pre/existing.txt", Body=b"there before the mount\n")

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    cache = tmp_path / "vfs-cache"
    stderr_path = tmp_path / "mount.log"
    with open(stderr_path, "wb") as errf:
        proc = subprocess.Popen(
            [
                rclone.binary,
                "mount",
                f"{REMOTE}:{bucket}",
                str(mnt),
                "--vfs-cache-mode",
                "writes",
                "--cache-dir",
                str(cache),
                *rclone.flags(),
                "-v",
            ],
            env={**os.environ, **rclone.env()},
            stdout=errf,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while not _is_mounted(mnt):
            if proc.poll() is not None:
                out = stderr_path.read_text(errors="replace")
                reason = _fuse_unusable_reason(out)
                if reason and not in_ci():
                    pytest.skip(f"rclone mount cannot use FUSE here: {reason}")
                raise AssertionError(f"rclone mount exited {proc.returncode}:\n{out}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    "rclone mount did not mount in 20s:\n" + stderr_path.read_text()
                )
            time.sleep(0.1)

        # Listing and reading what was there before.
        assert sorted(os.listdir(mnt)) == ["pre"]
        assert (mnt / "pre/existing.txt").read_bytes() == b"there before the mount\n"

        # Write, read back, list.
        data = os.urandom(3 * MiB + 7)
        (mnt / "written.bin").write_bytes(data)
        assert md5_bytes((mnt / "written.bin").read_bytes()) == md5_bytes(data)
        assert sorted(os.listdir(mnt)) == ["pre", "written.bin"]
        assert (mnt / "written.bin").stat().st_size == len(data)

        def remote_is(key: str, body: bytes | None) -> bool:
            try:
                got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                return body is None
            return body is not None and md5_bytes(got) == md5_bytes(body)

        # The VFS cache uploads after its write-back delay (5 s by default).
        _wait_for(lambda: remote_is("written.bin", data), 30, "written.bin to be uploaded")

        # Rename an uploaded file into a new directory: a server-side copy plus a delete.
        (mnt / "new dir").mkdir()
        os.rename(mnt / "written.bin", mnt / "new dir/renamed ü.bin")
        assert sorted(os.listdir(mnt)) == ["new dir", "pre"]
        assert os.listdir(mnt / "new dir") == ["renamed ü.bin"]
        assert md5_bytes((mnt / "new dir/renamed ü.bin").read_bytes()) == md5_bytes(data)
        _wait_for(
            lambda: remote_is("new dir/renamed ü.bin", data) and remote_is("written.bin", None),
            30,
            "the rename to reach the bucket",
        )

        # Overwrite a small file, delete another.
        (mnt / "pre/existing.txt").write_bytes(b"rewritten through the mount\n")
        (mnt / "to-delete.txt").write_bytes(b"short-lived")
        _wait_for(lambda: remote_is("to-delete.txt", b"short-lived"), 30, "to-delete.txt upload")
        os.remove(mnt / "to-delete.txt")
        assert "to-delete.txt" not in os.listdir(mnt)
        _wait_for(lambda: remote_is("to-delete.txt", None), 30, "to-delete.txt removal")
        _wait_for(
            lambda: remote_is("pre/existing.txt", b"rewritten through the mount\n"),
            30,
            "the overwrite to reach the bucket",
        )
    finally:
        if _is_mounted(mnt):
            subprocess.run([fusermount, "-u", str(mnt)], capture_output=True, timeout=30)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if _is_mounted(mnt):
            subprocess.run([fusermount, "-u", "-z", str(mnt)], capture_output=True, timeout=30)

    # The bucket, as boto3 sees it after the unmount.
    assert bucket_contents(s3, bucket) == {
        "pre/existing.txt": md5_bytes(b"rewritten through the mount\n"),
        "new dir/renamed ü.bin": md5_bytes(data),
    }
    mount_log = stderr_path.read_text(errors="replace")
    assert not re.findall(r".*\bERROR\b.*", mount_log), mount_log[-6000:]
    log.assert_clean()
