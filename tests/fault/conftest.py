"""Fixtures and helpers for fault tests: a 4-node cluster (R=3, W=2) of real processes,
boto3 clients without retries, a traffic generator that records what was acknowledged, and
a watcher that timestamps the gateway's "node X is down/up" log lines."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from blockstore.address import block_id
from blockstore.client import HttpBlockStore
from tests.cluster_util import CairnCluster

KiB = 1024
MiB = 1024 * KiB
# Inline in the metadata (below 64 KiB), one block, several 4 MiB blocks.
SIZES = (10 * KiB, 1 * MiB, 9 * MiB)
BLOCK = 4 * MiB  # the gateway's default block size
INLINE_MAX = 64 * KiB  # at most this many bytes live in the metadata record


def block_ids(body: bytes) -> list[bytes]:
    return [block_id(body[i : i + BLOCK]) for i in range(0, len(body), BLOCK)]


def make_s3(target: CairnCluster | object):
    """boto3 without retries and with ~10 s timeouts: every failure is seen by the test."""
    cfg = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=10,
        max_pool_connections=4,
    )
    return boto3.client(
        "s3",
        endpoint_url=target.endpoint,  # type: ignore[attr-defined]
        aws_access_key_id=target.access_key,  # type: ignore[attr-defined]
        aws_secret_access_key=target.secret_key,  # type: ignore[attr-defined]
        region_name="us-east-1",
        config=cfg,
        verify=False,
    )


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{status} {exc.response.get('Error', {}).get('Code')}"
    return type(exc).__name__


def http_status(exc: BaseException) -> int | None:
    if isinstance(exc, ClientError):
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def cluster_secret(cluster: CairnCluster) -> str:
    return (cluster.data / "cluster-secret").read_text().strip()


def node_id(cluster: CairnCluster, index: int) -> str:
    return (cluster.data / f"node-{index}" / "node-id").read_text().strip()


def node_url(cluster: CairnCluster, index: int) -> str:
    return "http://" + cluster.processes("node")[index]["address"]


def node_call(cluster: CairnCluster, index: int, method: str, *args, secret: str | None = None):
    """Call one HttpBlockStore method on node `index` (a fresh client, closed afterwards)."""

    async def run():
        store = HttpBlockStore(node_url(cluster, index), secret or cluster_secret(cluster))
        try:
            return await getattr(store, method)(*args)
        finally:
            await store.close()

    return asyncio.run(run())


def start_cluster(data: Path, mp: pytest.MonkeyPatch) -> CairnCluster:
    # INFO: the log watcher reads the gateways' "node X is up" lines, routine events.
    cluster = CairnCluster(
        data, nodes=4, replicas=3, write_quorum=2, extra_args=["--log-level", "info"]
    )
    # A secret set for another cluster (below) must not leak into this one.
    mp.delenv("CAIRN_CLUSTER_SECRET", raising=False)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CairnCluster]:
    c = start_cluster(tmp_path / "c", monkeypatch)
    try:
        yield c
    finally:
        c.stop()


class LogWatcher:
    """Timestamps (monotonic, as seen by the test) of 'node X is down|up' gateway lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.events: list[tuple[float, str, str]] = []  # (when, node id, "down"|"up")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pattern = re.compile(r"node (\S+) is (down|up)")
        buf = ""
        while not self._stop.is_set():
            try:
                with open(self.path) as f:
                    f.seek(self.offset)
                    chunk = f.read()
                    self.offset = f.tell()
            except OSError:
                chunk = ""
            now = time.monotonic()
            buf += chunk
            *lines, buf = buf.split("\n")
            for line in lines:
                m = pattern.search(line)
                if m:
                    with self._lock:
                        self.events.append((now, m.group(1), m.group(2)))
            time.sleep(0.02)

    def wait(self, node: str, state: str, since: float, timeout: float = 15.0) -> float | None:
        """Seconds from `since` until the gateway logged `node` as `state`, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for when, n, s in self.events:
                    if n == node and s == state and when >= since:
                        return when - since
            time.sleep(0.02)
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


def gateway_log(cluster: CairnCluster) -> Path:
    return cluster.data / "logs" / "gateway-0.log"


@dataclass
class Expected:
    """What a key must read back as: the md5 of the last acknowledged body."""

    md5: str
    size: int


@dataclass
class Traffic:
    """PUT and GET threads against one bucket, recording every outcome.

    PUTs write fresh keys `prefix/t<thread>/<n>` (sizes cycle through SIZES) and, when
    `overwrite` keys are given, overwrite each of them once. GETs read acknowledged keys
    that are never overwritten and compare md5."""

    cluster: CairnCluster
    bucket: str
    prefix: str
    put_threads: int = 3
    get_threads: int = 2
    sizes: tuple[int, ...] = SIZES
    readable: dict[str, Expected] = field(default_factory=dict)  # GET targets
    overwrite: list[str] = field(default_factory=list)
    acked: dict[str, Expected] = field(default_factory=dict)
    put_failed: dict[str, str] = field(default_factory=dict)  # key -> error
    put_failed_status: list[int | None] = field(default_factory=list)
    get_ok: int = 0
    get_failures: list[tuple[float, str, str]] = field(default_factory=list)  # when, key, err
    puts_ok_times: list[float] = field(default_factory=list)
    put_started: dict[str, float] = field(default_factory=dict)  # key -> attempt's start
    put_size: dict[str, int] = field(default_factory=dict)  # key -> attempted size
    blocks: dict[str, list[bytes]] = field(default_factory=dict)  # acked key -> block ids
    # Every acknowledged PUT in order: key, its version id (None when unversioned), body.
    versions: list[tuple[str, str | None, Expected]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._clients = [make_s3(self.cluster) for _ in range(self.put_threads + self.get_threads)]
        self._overwrite = list(self.overwrite)
        self._threads: list[threading.Thread] = []

    def start(self) -> Traffic:
        for i in range(self.put_threads):
            self._threads.append(
                threading.Thread(target=self._putter, args=(i, self._clients[i]), daemon=True)
            )
        for i in range(self.get_threads):
            c = self._clients[self.put_threads + i]
            self._threads.append(threading.Thread(target=self._getter, args=(i, c), daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> Traffic:
        self._stop.set()
        for t in self._threads:
            t.join(60)
            assert not t.is_alive(), "a traffic thread hung"
        return self

    def _putter(self, index: int, s3) -> None:
        rng = random.Random(index)
        n = 0
        while not self._stop.is_set():
            with self._lock:
                key = self._overwrite.pop() if self._overwrite and rng.random() < 0.3 else None
            if key is None:
                key = f"{self.prefix}/t{index}/{n:05d}"
            size = self.sizes[n % len(self.sizes)]
            n += 1
            body = os.urandom(size)
            started = time.monotonic()
            with self._lock:
                self.put_started[key] = started
                self.put_size[key] = size
            try:
                resp = s3.put_object(Bucket=self.bucket, Key=key, Body=body)
            except Exception as exc:  # noqa: BLE001 - recorded and judged by the test
                with self._lock:
                    self.put_failed[key] = error_code(exc)
                    self.put_failed_status.append(http_status(exc))
                continue
            with self._lock:
                self.acked[key] = Expected(md5(body), size)
                self.versions.append((key, resp.get("VersionId"), self.acked[key]))
                self.blocks[key] = block_ids(body) if size > INLINE_MAX else []
                self.puts_ok_times.append(time.monotonic())

    def _getter(self, index: int, s3) -> None:
        rng = random.Random(1000 + index)
        keys = sorted(self.readable)
        while not self._stop.is_set() and keys:
            key = rng.choice(keys)
            want = self.readable[key]
            try:
                data = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except Exception as exc:  # noqa: BLE001
                with self._lock:
                    self.get_failures.append((time.monotonic(), key, error_code(exc)))
                continue
            with self._lock:
                if len(data) != want.size or md5(data) != want.md5:
                    self.get_failures.append((time.monotonic(), key, f"mismatch {len(data)}"))
                else:
                    self.get_ok += 1


def read_back(s3, bucket: str, expected: dict[str, Expected]) -> list[str]:
    """Problems found reading every expected key (empty when all are byte-identical)."""
    problems = []
    for key, want in sorted(expected.items()):
        try:
            data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{key}: {error_code(exc)}")
            continue
        if len(data) != want.size or md5(data) != want.md5:
            problems.append(f"{key}: {len(data)} bytes, md5 {md5(data)} != {want.md5}")
    return problems


def listing(s3, bucket: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj
    return out


def put_seed(
    s3,
    bucket: str,
    prefix: str,
    count: int,
    versions: list[tuple[str, str | None, Expected]] | None = None,
) -> dict[str, Expected]:
    """`count` objects cycling through SIZES, written sequentially (all must succeed);
    each (key, version id, body) is appended to `versions` when given."""
    out = {}
    for i in range(count):
        size = SIZES[i % len(SIZES)]
        body = os.urandom(size)
        key = f"{prefix}/{i:04d}"
        resp = s3.put_object(Bucket=bucket, Key=key, Body=body)
        out[key] = Expected(md5(body), size)
        if versions is not None:
            versions.append((key, resp.get("VersionId"), out[key]))
    return out


def version_problems(
    s3, bucket: str, acked: list[tuple[str, str | None, Expected]]
) -> tuple[list[str], int]:
    """On a versioned bucket: problems found comparing ListObjectVersions with every
    acknowledged PUT (each listed, the last of its key as the latest, nothing else
    listed) and reading each noncurrent version by its id; and how many noncurrent
    versions were read."""
    listed: dict[tuple[str, str], bool] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            listed[(v["Key"], v["VersionId"])] = v["IsLatest"]
        assert not page.get("DeleteMarkers"), "nothing was deleted, yet there are markers"
    latest = {key: vid for key, vid, _ in acked}  # acked in order: the last one wins
    problems = []
    for key, vid, _ in acked:
        assert vid is not None, f"{key}: PUT on a versioned bucket gave no version id"
        if (key, vid) not in listed:
            problems.append(f"{key} {vid}: acknowledged version not listed")
        elif listed[(key, vid)] != (latest[key] == vid):
            problems.append(f"{key} {vid}: IsLatest {listed[(key, vid)]}")
    extra = set(listed) - {(key, vid) for key, vid, _ in acked}
    problems += [f"{key} {vid}: listed, never acknowledged" for key, vid in sorted(extra)]
    noncurrent = [(key, vid, want) for key, vid, want in acked if latest[key] != vid]
    for key, vid, want in noncurrent:
        try:
            data = s3.get_object(Bucket=bucket, Key=key, VersionId=vid)["Body"].read()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{key} {vid}: {error_code(exc)}")
            continue
        if len(data) != want.size or md5(data) != want.md5:
            problems.append(f"{key} {vid}: {len(data)} bytes, md5 {md5(data)} != {want.md5}")
    return problems, len(noncurrent)
