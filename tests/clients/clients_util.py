"""Helpers for the client suite: real programs (rclone, s3cmd, minio, boto3's transfer
manager) against a real `cairn serve`, every byte checked with md5.

Fixtures live in the test modules (this directory has no conftest of its own); these are
plain functions they share.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NoReturn

import pytest

from tests.server import CairnServer

MiB = 1024 * 1024


def in_ci() -> bool:
    """True under CI=true, as .ci/run runs: there a missing tool is a failure."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def missing(reason: str) -> NoReturn:
    """A tool or device the test needs is missing: SKIP on a developer's machine, FAIL under
    CI=true, so that CI never goes green on tests that did not run."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: missing, not skipped)", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, *alternatives: str) -> str:
    """Absolute path of the first of `name`, `alternatives` on PATH, else skip the test
    (fail it under CI=true)."""
    for candidate in (name, *alternatives):
        path = shutil.which(candidate)
        if path:
            return path
    names = " / ".join((name, *alternatives))
    missing(f"{names} is not installed (apt-get install it, as .ci/run does)")


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def multipart_etag(data: bytes, part_size: int) -> str:
    """S3's ETag of a multipart object: md5 of the parts' md5 digests, dash, part count."""
    parts = [data[i : i + part_size] for i in range(0, len(data), part_size)] or [b""]
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f"{digest}-{len(parts)}"


def multipart_etag_file(path: Path, part_size: int) -> str:
    """multipart_etag of a file's bytes, read one part at a time."""
    digests = []
    with open(path, "rb") as f:
        while part := f.read(part_size):
            digests.append(hashlib.md5(part).digest())
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def random_bytes(size: int, seed: int) -> bytes:
    """Deterministic incompressible bytes (a fresh random.Random per seed)."""
    return random.Random(seed).randbytes(size)


def write_random_file(path: Path, size: int, seed: int = 0) -> str:
    """Write `size` pseudo-random bytes to `path` in 1 MiB pieces; return their md5."""
    rng = random.Random(seed)
    h = hashlib.md5()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            piece = rng.randbytes(min(left, MiB))
            h.update(piece)
            f.write(piece)
            left -= len(piece)
    return h.hexdigest()


# A tree with nesting, names with spaces, unicode (NFC, non-Latin, emoji), and sizes from
# 0 bytes to a few MiB (crossing Cairn's block size and rclone's/s3cmd's buffer sizes).
TREE_NAMES: list[tuple[str, int]] = [
    ("empty.txt", 0),
    ("one-byte.bin", 1),
    ("readme.md", 1234),
    ("with space.txt", 4096),
    ("dir one/file with spaces.dat", 70_000),
    ("dir one/nested/deeper/leaf.bin", 65_536),
    ("dir one/nested/deeper/leaf+plus.bin", 65_537),
    ("dir one/nested/zero", 0),
    ("ünïcödé/naïve café.txt", 3_000),
    ("ünïcödé/日本語のファイル.bin", 200_000),
    ("ünïcödé/emoji 🎉.txt", 17),
    ("ünïcödé/Ελληνικά/αρχείο.dat", 1 * MiB),
    ("symbols/a&b=c;d.txt", 123),
    ("symbols/percent%20not-space.txt", 456),
    ("symbols/(parens) [brackets] {braces}.txt", 789),
    ("symbols/hash#tag 'quote'.txt", 321),
    ("symbols/comma,semi;colon.txt", 99),
    ("big/two-mib.bin", 2 * MiB),
    ("big/three-mib-plus.bin", 3 * MiB + 12_345),
    ("big/just-over-1mib.bin", MiB + 1),
    ("big/just-under-1mib.bin", MiB - 1),
]
TREE_NAMES += [(f"many/file-{i:03d}.txt", 10 * i) for i in range(20)]
TREE_NAMES += [(f"many/sub/{i}/x.bin", 5000 + i) for i in range(5)]


def make_tree(root: Path, names: Sequence[tuple[str, int]] = TREE_NAMES) -> dict[str, str]:
    """Create the files under `root`; return {relative posix path: md5}."""
    out: dict[str, str] = {}
    for i, (rel, size) in enumerate(names):
        out[rel] = write_random_file(root / rel, size, seed=1000 + i)
    return out


def local_tree(root: Path) -> dict[str, str]:
    """{relative posix path: md5} of every regular file under `root`."""
    return {
        p.relative_to(root).as_posix(): md5_file(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def bucket_contents(s3, bucket: str, prefix: str = "") -> dict[str, str]:
    """{key: md5 of the bytes GetObject returns} for every object in the bucket (boto3)."""
    out: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            assert len(body) == obj["Size"], f"{obj['Key']}: listed {obj['Size']}, got {len(body)}"
            out[obj["Key"]] = md5_bytes(body)
    return out


def bucket_keys(s3, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def new_bucket_name(tag: str = "cli") -> str:
    return f"{tag}-{uuid.uuid4().hex[:16]}"


def empty_and_delete(s3, bucket: str) -> None:
    """Best-effort cleanup: objects, unfinished multipart uploads, then the bucket."""
    try:
        for key in bucket_keys(s3, bucket):
            s3.delete_object(Bucket=bucket, Key=key)
    except Exception:
        pass
    try:
        for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    except Exception:
        pass
    with suppress(Exception):
        s3.delete_bucket(Bucket=bucket)


@contextmanager
def temp_bucket(s3, tag: str = "cli", create: bool = True) -> Iterator[str]:
    name = new_bucket_name(tag)
    if create:
        s3.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        empty_and_delete(s3, name)


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
    input: bytes | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a client program; on failure the assertion shows its command, stdout and stderr."""
    try:
        proc = subprocess.run(
            list(cmd),
            env={**os.environ, **(env or {})},
            input=input,
            capture_output=True,
            timeout=timeout,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"command timed out after {timeout}s: {' '.join(map(str, cmd))}\n"
            f"--- stdout so far ---\n{(exc.stdout or b'').decode(errors='replace')[-6000:]}\n"
            f"--- stderr so far ---\n{(exc.stderr or b'').decode(errors='replace')[-12000:]}"
        ) from None
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit {proc.returncode}: {' '.join(map(str, cmd))}\n"
            f"--- stdout ---\n{proc.stdout.decode(errors='replace')[-6000:]}\n"
            f"--- stderr ---\n{proc.stderr.decode(errors='replace')[-12000:]}"
        )
    return proc


ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|Traceback|Exception)\b")


class ServerLog:
    """The part of a server's log written after construction (the session servers are
    shared, so a test only looks at what happened while it ran)."""

    def __init__(self, server: CairnServer) -> None:
        self.path = server.log_path
        self.start = self.path.stat().st_size if self.path.exists() else 0

    def text(self) -> str:
        if not self.path.exists():
            return ""
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read().decode(errors="replace")

    def errors(self) -> list[str]:
        return [line for line in self.text().splitlines() if ERROR_LINE.search(line)]

    def assert_clean(self) -> None:
        text = self.text()
        assert not self.errors(), f"server log has errors:\n{text[-8000:]}"


def proc_status(pid: int) -> dict[str, int]:
    """The memory fields of /proc/<pid>/status (VmHWM, VmRSS, RssAnon, RssFile, ...) in bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        fields = rest.split()
        if len(fields) == 2 and fields[1] == "kB":
            out[name] = int(fields[0]) * 1024
    return out


def peak_rss_bytes(pid: int) -> int:
    """VmHWM (peak resident set size) of a live process, from /proc/<pid>/status."""
    return proc_status(pid)["VmHWM"]


class MemorySampler:
    """Samples a process's RssAnon and RssFile every 20 ms in a thread, keeping the peaks.

    VmHWM counts file pages mapped into the process too: Cairn's LMDB block store is
    mmapped, so reading an object makes its pages resident in the server's RSS
    (RssFile) although they are the kernel's page cache, reclaimable at any time.
    RssAnon is the memory the server allocates itself (buffers, Python objects).
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = proc_status(self.pid)
            except OSError:
                return
            for k in ("RssAnon", "RssFile", "VmRSS"):
                if k in status:
                    self.peak[k] = max(self.peak.get(k, 0), status[k])
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def report(self) -> str:
        status = proc_status(self.pid)
        mib = {k: v / MiB for k, v in self.peak.items()}
        return f"VmHWM {status['VmHWM'] / MiB:.0f} MiB; sampled peaks: " + ", ".join(
            f"{k} {v:.0f} MiB" for k, v in sorted(mib.items())
        )
